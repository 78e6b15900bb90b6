"""A key file that is no key is a ``KeyFileError``: one exit code in the CLI, 503 in the API.

audit's ``PemError`` is translated once, where the broker reads key files
(``broker.keys``), into the broker's error tree; neither edge catches it itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from clirun import run_broker
from databases import Database

from broker.access import create_token
from broker.api import create_app
from broker.api._problems import problem_for
from broker.cli._common import EXIT_USAGE, exit_code
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.errors import ConfigError, KeyFileError
from broker.keys import init_keys, load_keys, read_opening_key, read_public_keys

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CPR = "3201901234"
NOT_A_KEY = f"-----BEGIN PUBLIC KEY-----\n{CPR} Jens Hansen\n-----END PUBLIC KEY-----\n"


def _spoilt_home(home: Path) -> Path:
    """Keys whose public log key file holds no key (a CPR number where the key was)."""
    init_keys(Settings(home=home))
    public = home / "keys" / "log-0001.pub.pem"
    public.write_text(NOT_A_KEY, encoding="ascii")
    return public


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        ("", "no PUBLIC KEY block found"),
        (NOT_A_KEY, "public key 1 is not a valid PEM key"),
    ],
)
def test_a_public_key_file_that_is_no_key(tmp_path: Path, content: str, rule: str) -> None:
    """Audit's PemError arrives as a KeyFileError naming the file and the rule, not the content."""
    path = tmp_path / "peer.pem"
    path.write_text(content, encoding="ascii")
    with pytest.raises(KeyFileError, match=rule) as excinfo:
        read_public_keys(path)
    assert str(excinfo.value).startswith("peer.pem: ")
    assert CPR not in str(excinfo.value)
    assert isinstance(excinfo.value, ConfigError)
    assert exit_code(excinfo.value) == EXIT_USAGE
    assert problem_for(excinfo.value).status_code == 503


def test_missing_and_wrong_key_files(tmp_path: Path) -> None:
    """A file that is not there, or an Ed25519 key where an X25519 one belongs."""
    with pytest.raises(KeyFileError, match=r"absent\.pem: cannot be read"):
        read_public_keys(tmp_path / "absent.pem")
    init_keys(Settings(home=tmp_path))
    with pytest.raises(KeyFileError, match=r"log-0001\.pem: not an X25519 private key"):
        read_opening_key(tmp_path / "keys" / "log-0001.pem")
    with pytest.raises(KeyFileError, match=r"log-0001\.pub\.pem: not an unencrypted PEM private"):
        read_opening_key(tmp_path / "keys" / "log-0001.pub.pem")


def test_a_spoilt_log_key_stops_loading_the_ring(tmp_path: Path) -> None:
    """The log's own public key file is read the same way."""
    _spoilt_home(tmp_path)
    with pytest.raises(KeyFileError, match=r"log-0001\.pub\.pem: public key 1 is not a valid PEM"):
        load_keys(Settings(home=tmp_path))


def test_the_cli_exits_with_the_usage_code_and_no_traceback(
    database: Database, tmp_path: Path
) -> None:
    """`broker witness`, `broker receiver` on a key file that is none; `audit list` on such keys."""
    spoilt = _spoilt_home(tmp_path / "home")
    store = tmp_path / "store"
    runs = {
        "witness": ["witness", "--log-key", str(spoilt), "--store", str(store)],
        "receiver": ["receiver", "--public-key", str(spoilt), "--store", str(store)],
        "audit list": ["audit", "list"],
    }
    for name, args in runs.items():
        done = run_broker(database, tmp_path / "home", *args)
        assert done.returncode == EXIT_USAGE, (name, done.stderr)
        assert "error: log-0001.pub.pem: public key 1 is not a valid PEM key" in done.stderr, name
        assert "Traceback" not in done.stderr, name
        assert CPR not in done.stdout + done.stderr, name


@pytest.mark.anyio
async def test_the_api_answers_503_problem(database: Database, tmp_path: Path) -> None:
    """Not ready, and a route that needs the keys answers 503 problem+json, not a 500."""
    _spoilt_home(tmp_path)
    with session_scope(make_session_factory(database.engine)) as session:
        _token, secret = create_token(session, role="auditor", org="bo-vest", now=NOW)
    app = create_app(Settings(home=tmp_path, policies_dir=POLICIES), engine=database.engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker") as client:
        ready = await client.get("/readyz")
        listed = await client.get("/v1/log/entries", headers={"Authorization": f"Bearer {secret}"})
    assert (ready.status_code, ready.json()["keys"]) == (503, "missing")
    assert listed.status_code == 503
    assert listed.headers["content-type"] == "application/problem+json"
    assert listed.json()["detail"] == "the broker is not fully configured"
    assert CPR not in ready.text + listed.text
