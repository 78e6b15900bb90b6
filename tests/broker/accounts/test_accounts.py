"""Local accounts: users, argon2id passwords, one-time links, sessions (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.access import Principal, Role
from broker.accounts import (
    LINK_LIFETIME,
    PASSWORD_MISMATCH,
    PASSWORD_TOO_SHORT,
    PasswordLink,
    User,
    WebSession,
    check_password,
    create_user,
    disable_user,
    end_session,
    external_user,
    link_user,
    list_users,
    look_up_session,
    reset_password,
    resume_session,
    set_password,
    start_session,
    user_state,
)
from broker.errors import InputError, NotFound

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
IDLE, LIFETIME = dt.timedelta(minutes=30), dt.timedelta(hours=12)
GOOD = "korrekt-hest-batteri"


def _user(session: Session, **changes: object) -> tuple[User, str]:
    profile: dict[str, object] = {"org": "albertslund", "username": "mette", "role": "visitator"}
    profile.update(changes)
    return create_user(session, now=NOW, **profile)  # type: ignore[arg-type]


def _with_password(session: Session, **changes: object) -> User:
    _, link = _user(session, **changes)
    return set_password(session, link, GOOD, GOOD, now=NOW)


def test_a_new_user_has_no_password_and_a_hashed_link(session: Session) -> None:
    """A user starts without a password; only the SHA-256 of its link token is stored."""
    user, link = _user(session, username="  Mette ")
    assert (user.username, user.password_hash, user.disabled_at) == ("mette", None, None)
    stored = session.scalars(select(PasswordLink).where(PasswordLink.user_id == user.id)).all()
    assert [row.token_hash for row in stored] == [hashlib.sha256(link.encode()).hexdigest()]
    assert stored[0].expires_at == NOW + LINK_LIFETIME
    assert link not in {row.token_hash for row in stored}


def test_a_coordinator_needs_departments_and_a_work_contact(session: Session) -> None:
    """The scope rules are a token's: a coordinator without departments or contact is refused."""
    with pytest.raises(InputError) as refused:
        _user(session, username="kim", role="coordinator", org="bo-vest")
    assert {p.column for p in refused.value.problems} == {"department", "contact"}
    user, _ = _user(
        session,
        username="kim",
        role="coordinator",
        org="bo-vest",
        departments=("blokland",),
        contact="kim@bo-vest.example",
    )
    assert (user.departments, user.contact) == ("blokland", "kim@bo-vest.example")


def test_usernames_are_unique_per_organisation_and_checked(session: Session) -> None:
    """The same username twice in one organisation is refused; in another it is fine."""
    _user(session)
    with pytest.raises(InputError) as taken:
        _user(session, username="METTE")
    assert [p.column for p in taken.value.problems] == ["username"]
    _user(session, org="hvidovre")
    with pytest.raises(InputError):
        _user(session, username="mette hansen")
    assert [(u.org, u.username) for u in list_users(session)] == [
        ("albertslund", "mette"),
        ("hvidovre", "mette"),
    ]


def test_the_link_sets_an_argon2id_password_once(session: Session) -> None:
    """The link sets an argon2id hash and is spent: a second use is refused."""
    user, link = _user(session)
    set_password(session, link, GOOD, GOOD, now=NOW)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert GOOD not in user.password_hash
    with pytest.raises(NotFound):
        set_password(session, link, "another-long-one", "another-long-one", now=NOW)
    assert link_user(session, link, now=NOW) is None


def test_the_link_expires(session: Session) -> None:
    """After its lifetime the link no longer works."""
    _, link = _user(session)
    assert link_user(session, link, now=NOW + LINK_LIFETIME - dt.timedelta(seconds=1))
    with pytest.raises(NotFound):
        set_password(session, link, GOOD, GOOD, now=NOW + LINK_LIFETIME)


def test_a_refused_password_keeps_the_link(session: Session) -> None:
    """Too short or not repeated: refused with the rules broken, and the link still works."""
    _, link = _user(session)
    with pytest.raises(InputError) as refused:
        set_password(session, link, "kort", "andet", now=NOW)
    assert [(p.column, p.rule) for p in refused.value.problems] == [
        ("password", PASSWORD_TOO_SHORT),
        ("repeated", PASSWORD_MISMATCH),
    ]
    assert link_user(session, link, now=NOW) is not None


def test_check_password_says_nothing_about_which_part_failed(session: Session) -> None:
    """Right password: the user; a wrong password, user, organisation: None alike."""
    user = _with_password(session)
    assert check_password(session, "albertslund", "Mette", GOOD) is user
    assert check_password(session, "albertslund", "mette", GOOD + "x") is None
    assert check_password(session, "albertslund", "jens", GOOD) is None
    assert check_password(session, "hvidovre", "mette", GOOD) is None


def test_a_user_without_a_password_cannot_sign_in(session: Session) -> None:
    """Before the link is used, no password matches (not even the empty one)."""
    _user(session)
    assert check_password(session, "albertslund", "mette", "") is None
    assert check_password(session, "albertslund", "mette", GOOD) is None


def test_an_old_hash_is_replaced_at_sign_in(session: Session) -> None:
    """A hash made with weaker parameters is rehashed with the current ones on success."""
    user = _with_password(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    user.password_hash = weak.hash(GOOD)
    session.flush()
    old = user.password_hash
    assert check_password(session, "albertslund", "mette", GOOD) is user
    assert user.password_hash != old
    assert not PasswordHasher().check_needs_rehash(user.password_hash)


def test_a_signed_in_user_is_the_same_principal_as_a_token(session: Session) -> None:
    """Its session gives a Principal with the user's role and scope, acting as ``user:<id>``."""
    user = _with_password(
        session,
        org="bo-vest",
        username="kim",
        role="coordinator",
        departments=("blokland", "andenblok"),
        contact="kim@bo-vest.example",
    )
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    found = resume_session(session, secret, now=NOW, idle=IDLE, lifetime=LIFETIME)
    assert found is not None
    assert found.principal == Principal(
        user.id,
        Role.COORDINATOR,
        "bo-vest",
        ("andenblok", "blokland"),
        "kim@bo-vest.example",
        kind="user",
    )
    assert found.principal.actor == f"user:{user.id}"
    assert Principal("t1", Role.ADMIN, "bo-vest", (), None).actor == "token:t1"


def test_sessions_are_stored_as_hashes(session: Session) -> None:
    """The cookie value is not stored; its SHA-256 is, with a CSRF secret of its own."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    row = session.scalars(select(WebSession)).one()
    assert row.id_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.id_hash, row.csrf_secret}


def test_opening_a_session_is_the_last_sign_in(session: Session) -> None:
    """A new user has signed in never; each session opened moves its last sign-in."""
    user = _with_password(session)
    assert user.last_signed_in_at is None
    start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    later = NOW + dt.timedelta(days=3)
    start_session(session, user, now=later, idle=IDLE, lifetime=LIFETIME)
    session.expire_all()
    assert session.get(User, user.id).last_signed_in_at == later  # type: ignore[union-attr]


def test_a_users_state(session: Session) -> None:
    """No password yet until the link is used, then active, then disabled."""
    user, link = _user(session)
    assert user_state(user) == "no password"
    set_password(session, link, GOOD, GOOD, now=NOW)
    assert user_state(user) == "active"
    disable_user(session, user.org, user.username, now=NOW)
    assert user_state(user) == "disabled"
    principal = Principal("ab12cd34ef56", Role.AUDITOR, "bo-vest", (), None, kind="user")
    elsewhere = external_user(session, principal, source="bo-vest-idp", now=NOW)
    assert user_state(elsewhere) == "external"


def test_a_session_ends_when_idle(session: Session) -> None:
    """Used within the idle time it lives on; idle longer, it ends and its row goes."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    later = NOW + dt.timedelta(minutes=25)
    assert resume_session(session, secret, now=later, idle=IDLE, lifetime=LIFETIME)
    still = later + dt.timedelta(minutes=25)
    assert resume_session(session, secret, now=still, idle=IDLE, lifetime=LIFETIME)
    gone = still + IDLE
    lookup = look_up_session(session, secret, now=gone, idle=IDLE, lifetime=LIFETIME)
    assert (lookup.signed_in, lookup.write_due) == (None, True)
    assert resume_session(session, secret, now=gone, idle=IDLE, lifetime=LIFETIME) is None
    assert session.scalars(select(WebSession)).all() == []


def test_a_session_ends_at_its_lifetime_however_busy(session: Session) -> None:
    """Used every 20 minutes, a session still ends 12 hours after sign-in."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    moment = NOW
    while moment + dt.timedelta(minutes=20) < NOW + LIFETIME:
        moment += dt.timedelta(minutes=20)
        assert resume_session(session, secret, now=moment, idle=IDLE, lifetime=LIFETIME)
    assert resume_session(session, secret, now=NOW + LIFETIME, idle=IDLE, lifetime=LIFETIME) is None


def test_a_fresh_lookup_writes_nothing(session: Session) -> None:
    """Within a minute of the last write, a lookup needs no write (pages read only)."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    soon = NOW + dt.timedelta(seconds=59)
    assert not look_up_session(session, secret, now=soon, idle=IDLE, lifetime=LIFETIME).write_due
    due = NOW + dt.timedelta(seconds=60)
    assert look_up_session(session, secret, now=due, idle=IDLE, lifetime=LIFETIME).write_due


def test_sign_out_deletes_the_session(session: Session) -> None:
    """Ending a session deletes its row; its cookie signs nobody in any more."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    assert end_session(session, secret)
    assert not end_session(session, secret)
    assert resume_session(session, secret, now=NOW, idle=IDLE, lifetime=LIFETIME) is None


def test_disabling_ends_sessions_and_sign_in(session: Session) -> None:
    """A disabled user's sessions end at once and its password no longer signs in."""
    user = _with_password(session)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    assert disable_user(session, "albertslund", "mette", now=NOW)
    assert not disable_user(session, "albertslund", "mette", now=NOW)
    assert resume_session(session, secret, now=NOW, idle=IDLE, lifetime=LIFETIME) is None
    assert check_password(session, "albertslund", "mette", GOOD) is None
    with pytest.raises(NotFound):
        disable_user(session, "albertslund", "jens", now=NOW)
    with pytest.raises(InputError):
        reset_password(session, "albertslund", "mette", now=NOW)


def test_reset_voids_the_password_sessions_and_earlier_links(session: Session) -> None:
    """A reset gives a new link; the old password, the old links and the sessions stop."""
    user, first = _user(session)
    second = reset_password(session, "albertslund", "mette", now=NOW)
    assert link_user(session, first, now=NOW) is None
    set_password(session, second, GOOD, GOOD, now=NOW)
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    third = reset_password(session, "albertslund", "mette", now=NOW)
    assert user.password_hash is None
    assert check_password(session, "albertslund", "mette", GOOD) is None
    assert resume_session(session, secret, now=NOW, idle=IDLE, lifetime=LIFETIME) is None
    assert link_user(session, third, now=NOW) is user


def test_a_user_signed_in_another_way_gets_a_row_kept_current(session: Session) -> None:
    """An OpenID Connect principal becomes a user without a password, updated each sign-in."""
    first = Principal("a1b2c3d4e5f60718", Role.VISITATOR, "albertslund", (), None)
    user = external_user(session, first, source="albertslund-ad", now=NOW)
    assert (user.id, user.username, user.password_hash) == (
        "a1b2c3d4e5f60718",
        "albertslund-ad:a1b2c3d4e5f60718",
        None,
    )
    secret = start_session(session, user, now=NOW, idle=IDLE, lifetime=LIFETIME)
    signed = resume_session(session, secret, now=NOW, idle=IDLE, lifetime=LIFETIME)
    assert signed is not None
    assert signed.principal.actor == "user:a1b2c3d4e5f60718"
    moved = Principal("a1b2c3d4e5f60718", Role.AUDITOR, "albertslund", (), None)
    assert external_user(session, moved, source="albertslund-ad", now=NOW) is user
    assert user.role == "auditor"
    assert check_password(session, "albertslund", user.username, "") is None
    with pytest.raises(InputError):
        external_user(
            session,
            Principal("0000000000000000", Role.COORDINATOR, "bo-vest", (), None),
            source="x",
            now=NOW,
        )


def test_a_log_read_by_a_signed_in_user_concerns_its_organisation(session: Session) -> None:
    """An ``audit-read`` by ``user:<id>`` is indexed under that user's organisation."""
    from broker.disclosure._orgs import entry_orgs  # noqa: PLC0415 - the rule itself

    user = _with_password(session, org="bo-vest", username="dpo", role="auditor")
    read = {"event": "audit-read", "actor": f"user:{user.id}"}
    assert entry_orgs(session, read) == frozenset({"bo-vest"})
    assert entry_orgs(session, {"event": "audit-read", "actor": "user:nobody"}) == frozenset()
