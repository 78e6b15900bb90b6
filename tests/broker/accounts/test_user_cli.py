"""`broker user create|list|disable|reset`: the real command against a test database."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from clirun import run_broker
from databases import Database

from broker.accounts import check_password, link_user, set_password
from broker.db import make_session_factory, session_scope

LINK = re.compile(r"^https://broker\.example\.dk/adgangskode/([A-Za-z0-9_-]{43})$")
ENV = {"BROKER_PUBLIC_URL": "https://broker.example.dk"}
PASSWORD = "en-lang-adgangskode"  # noqa: S105 - the test's own


def _token(stdout: str) -> str:
    found = LINK.match(stdout.splitlines()[-1])
    assert found is not None, stdout
    return found.group(1)


def test_create_prints_a_one_time_link_that_sets_the_password(
    database: Database, tmp_path: Path
) -> None:
    """The printed link (from BROKER_PUBLIC_URL) opens the set-password form of that user."""
    made = run_broker(
        database,
        tmp_path,
        *("user", "create", "bo-vest", "Kim", "--role", "coordinator"),
        *("--department", "blokland", "--contact", "kim@bo-vest.example"),
        env=ENV,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0].startswith("user kim (coordinator, bo-vest) created")
    token = _token(made.stdout)
    factory = make_session_factory(database.engine)
    now = dt.datetime.now(dt.UTC)
    with session_scope(factory) as session:
        user = link_user(session, token, now=now)
        assert user is not None
        assert (user.org, user.username, user.departments) == ("bo-vest", "kim", "blokland")
        set_password(session, token, PASSWORD, PASSWORD, now=now)
    listed = run_broker(database, tmp_path, "user", "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"^bo-vest\s+kim\s+coordinator\s+bo-vest blokland\s+active\s+not signed in$",
        listed.stdout,
        re.MULTILINE,
    )
    assert "$argon2" not in listed.stdout


def test_disable_and_reset(database: Database, tmp_path: Path) -> None:
    """Disable stops sign-in; reset of an active user voids its password and prints a new link."""
    made = run_broker(
        database, tmp_path, "user", "create", "albertslund", "mette", "--role", "visitator"
    )
    first = _token(made.stdout.replace("http://127.0.0.1:8000", "https://broker.example.dk"))
    factory = make_session_factory(database.engine)
    now = dt.datetime.now(dt.UTC)
    with session_scope(factory) as session:
        set_password(session, first, PASSWORD, PASSWORD, now=now)
    reset = run_broker(database, tmp_path, "user", "reset", "albertslund", "mette", env=ENV)
    assert reset.returncode == 0, reset.stderr
    second = _token(reset.stdout)
    with session_scope(factory) as session:
        assert check_password(session, "albertslund", "mette", PASSWORD) is None
        assert link_user(session, first, now=now) is None
        assert link_user(session, second, now=now) is not None
    disabled = run_broker(database, tmp_path, "user", "disable", "albertslund", "mette")
    assert (disabled.returncode, disabled.stdout) == (0, "user mette (albertslund) disabled\n")
    again = run_broker(database, tmp_path, "user", "disable", "albertslund", "mette")
    assert again.stdout == "user mette (albertslund) was already disabled\n"
    with session_scope(factory) as session:
        assert link_user(session, second, now=now) is None
    listed = run_broker(database, tmp_path, "user", "list")
    assert re.search(
        r"^albertslund\s+mette\s+visitator\s+albertslund\s+disabled\s+not signed in$",
        listed.stdout,
        re.MULTILINE,
    )


def test_refusals_exit_with_the_table_codes(database: Database, tmp_path: Path) -> None:
    """Bad scope: exit 1 naming the fields; an unknown user: 1; an unknown role: usage, 2."""
    bad = run_broker(
        database, tmp_path, "user", "create", "bo-vest", "kim", "--role", "coordinator"
    )
    assert bad.returncode == 1
    assert "rejected: the user was not created; nothing was changed" in bad.stderr
    assert "column department: a coordinator needs at least one department" in bad.stderr
    unknown = run_broker(database, tmp_path, "user", "disable", "bo-vest", "nobody")
    assert unknown.returncode == 1
    assert "no such user in that organisation" in unknown.stderr
    usage = run_broker(database, tmp_path, "user", "create", "bo-vest", "kim", "--role", "boss")
    assert usage.returncode == 2
    taken = run_broker(database, tmp_path, "user", "create", "bo-vest", "ida", "--role", "admin")
    assert taken.returncode == 0
    twice = run_broker(database, tmp_path, "user", "create", "bo-vest", "IDA", "--role", "admin")
    assert twice.returncode == 1
    assert "column username: already taken in this organisation" in twice.stderr


def test_demo_users_are_made_once(database: Database, tmp_path: Path) -> None:
    """`user demo` makes one user per role; a re-run keeps them, a new link only if needed."""
    first = run_broker(database, tmp_path, "user", "demo", env=ENV)
    assert first.returncode == 0, first.stderr
    links = re.findall(
        r"^  (\w+) \((\w+), ([\w-]+)\): https://broker\.example\.dk/adgangskode/(\S+)$",
        first.stdout,
        re.MULTILINE,
    )
    assert sorted((name, role, org) for name, role, org, _ in links) == [
        ("admin", "admin", "bo-vest"),
        ("koordinator", "coordinator", "bo-vest"),
        ("renovering", "housing", "bo-vest"),
        ("revisor", "auditor", "bo-vest"),
        ("visitator", "visitator", "albertslund"),
    ]
    token = next(t for name, _, _, t in links if name == "visitator")
    with session_scope(make_session_factory(database.engine)) as session:
        set_password(session, token, PASSWORD, PASSWORD, now=dt.datetime.now(dt.UTC))
    second = run_broker(database, tmp_path, "user", "demo", env=ENV)
    assert "  visitator (visitator, albertslund): has its password (kept)" in second.stdout
    assert len(re.findall(r"/adgangskode/", second.stdout)) == 4
    assert second.stdout.endswith("then sign in at https://broker.example.dk/log-ind\n")
