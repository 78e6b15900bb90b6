"""API tokens: 256-bit secrets shown once, stored as hashes, with expiry and revocation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from clirun import run_broker
from databases import Database
from sqlalchemy.orm import Session

from broker.access import (
    LABEL_PERSONAL,
    LABEL_RULE,
    USE_RECORDED_EVERY,
    Role,
    Token,
    authenticate,
    create_token,
    look_up_token,
    record_use,
    revoke_token,
    token_state,
)
from broker.errors import InputError
from tests.broker.test_privacy import PLANTED

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def test_a_token_authenticates_until_it_expires_or_is_revoked(session: Session) -> None:
    """Valid now; not after its expiry; not once revoked; never by a near miss."""
    token, secret = create_token(
        session,
        role="coordinator",
        org="bo-vest",
        departments=("blokland",),
        contact="koordinator@bo-vest.example",
        days=30,
        now=NOW,
    )
    principal = authenticate(session, secret, now=NOW)
    assert principal is not None
    assert (principal.role, principal.org, principal.departments) == (
        Role.COORDINATOR,
        "bo-vest",
        ("blokland",),
    )
    assert authenticate(session, secret, now=NOW + dt.timedelta(days=30)) is None
    assert authenticate(session, secret[:-1] + ("A" if secret[-1] != "A" else "B"), now=NOW) is None
    assert authenticate(session, "Bearer " + secret, now=NOW) is None
    assert revoke_token(session, token.id, now=NOW) is True
    assert revoke_token(session, token.id, now=NOW) is False
    assert authenticate(session, secret, now=NOW) is None


def test_a_tokens_use_is_written_once_a_minute(session: Session) -> None:
    """Due when none is on record or the last is a minute old; written only when due."""
    token, secret = create_token(session, role="auditor", org="bo-vest", now=NOW)
    assert token.last_used_at is None
    assert look_up_token(session, secret, now=NOW).use_due
    assert record_use(session, token.id, now=NOW) is True
    soon = NOW + USE_RECORDED_EVERY - dt.timedelta(seconds=1)
    assert not look_up_token(session, secret, now=soon).use_due
    # Another request (another replica) found it due a moment ago: not written twice.
    assert record_use(session, token.id, now=soon) is False
    later = NOW + USE_RECORDED_EVERY
    assert look_up_token(session, secret, now=later).use_due
    assert record_use(session, token.id, now=later) is True
    session.expire_all()
    assert session.get(Token, token.id).last_used_at == later  # type: ignore[union-attr]
    assert record_use(session, "000000000000", now=later) is False


def test_an_invalid_token_has_no_use_to_write(session: Session) -> None:
    """Revoked or expired: no principal, and no use is due."""
    token, secret = create_token(session, role="auditor", org="bo-vest", days=1, now=NOW)
    expired = look_up_token(session, secret, now=NOW + dt.timedelta(days=1))
    assert (expired.principal, expired.use_due) == (None, False)
    assert token_state(token, now=NOW + dt.timedelta(days=1)) == "expired"
    assert token_state(token, now=NOW) == "active"
    revoke_token(session, token.id, now=NOW)
    assert look_up_token(session, secret, now=NOW).use_due is False
    assert token_state(token, now=NOW) == "revoked"


def test_a_label_says_what_the_token_is_for(session: Session) -> None:
    """Trimmed and kept; too long, a control character or personal-looking: refused."""
    token, _ = create_token(session, role="housing", org="bo-vest", label=" ERP-eksport ", now=NOW)
    assert token.label == "ERP-eksport"
    for label, rule in (
        ("x" * 61, LABEL_RULE),
        ("ERP\nexport", LABEL_RULE),
        (f"til {PLANTED['CPR']}", LABEL_PERSONAL),
        (PLANTED["E-mail"], LABEL_PERSONAL),
    ):
        with pytest.raises(InputError) as excinfo:
            create_token(session, role="housing", org="bo-vest", label=label, now=NOW)
        assert [(p.column, p.rule) for p in excinfo.value.problems] == [("label", rule)]
        assert label not in str(excinfo.value)


def test_only_a_hash_of_the_secret_is_stored(session: Session) -> None:
    """The secret carries 256 random bits and is not in the row."""
    token, secret = create_token(session, role="auditor", org="bo-vest", now=NOW)
    random_part = secret.split("_", 2)[2]
    assert len(random_part) == 43  # 32 bytes, URL-safe base64 without padding
    assert secret not in token.secret_hash
    assert random_part not in repr(vars(token))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"role": "root", "org": "bo-vest"}, "role"),
        ({"role": "auditor", "org": "Bo Vest"}, "org"),
        ({"role": "coordinator", "org": "bo-vest", "contact": "k@bo-vest.example"}, "department"),
        ({"role": "coordinator", "org": "bo-vest", "departments": ("blokland",)}, "contact"),
        ({"role": "auditor", "org": "bo-vest", "days": 0}, "expires"),
    ],
)
def test_bad_profiles_are_refused(session: Session, options: dict[str, object], field: str) -> None:
    """Each bad option is named; nothing is stored."""
    with pytest.raises(InputError) as excinfo:
        create_token(session, now=NOW, **options)  # type: ignore[arg-type]
    assert field in str(excinfo.value.problems[0])


def test_token_commands(database: Database, tmp_path: Path) -> None:
    """Create shows the secret once; list never shows it; revoke ends it."""
    created = run_broker(
        database,
        tmp_path,
        "token",
        "create",
        "--role",
        "visitator",
        "--org",
        "albertslund",
        "--expires",
        "7",
        "--label",
        "ERP-eksport",
    )
    assert created.returncode == 0, created.stderr
    header, secret = created.stdout.splitlines()
    token_id = header.split()[1]
    assert secret.startswith(f"brk_{token_id}_")
    listed = run_broker(database, tmp_path, "token", "list")
    assert token_id in listed.stdout
    assert "active" in listed.stdout
    assert listed.stdout.rstrip().endswith("never used        ERP-eksport")
    assert secret not in listed.stdout + listed.stderr
    revoked = run_broker(database, tmp_path, "token", "revoke", token_id)
    assert revoked.stdout.strip() == f"token {token_id} revoked"
    assert "revoked" in run_broker(database, tmp_path, "token", "list").stdout
    bad = run_broker(database, tmp_path, "token", "create", "--role", "coordinator", "--org", "x y")
    assert bad.returncode == 1
    assert "nothing was changed" in bad.stderr
