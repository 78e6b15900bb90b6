"""`broker audit dwelling` answers as the access-request page does; `policy-text` prints a text."""

from __future__ import annotations

from pathlib import Path

from clirun import run_broker
from databases import Database

from broker.db import session_scope
from broker.policy.models import PolicyVersion
from tests.broker.test_privacy import PLANTED
from tests.broker.web.test_access_pages import GDPR, NATIONAL, Site


def test_the_start_of_an_address_finds_the_dwelling_with_bases_values_and_delivery(
    database: Database, tmp_path: Path
) -> None:
    """`prøvevej 1 st tv` names one dwelling: both bases, the values, the delivery, the purge."""
    site = Site(database, tmp_path / "home")
    home = tmp_path / "home"
    found = run_broker(database, home, "audit", "dwelling", "prøvevej 1 st tv")
    assert found.returncode == 0, found.stderr
    assert f"dwelling {site.kept}" in found.stdout
    assert found.stdout.count(f"legal_basis_gdpr: {GDPR}") == 2
    assert found.stdout.count(f"legal_basis_national: {NATIONAL}") == 2
    assert found.stdout.count("delivery: delivered ") == 2
    assert "released: adresseid=" in found.stdout
    assert "vejnavn=Prøvevej" in found.stdout
    assert "retention: P6M" in found.stdout
    for value in PLANTED.values():
        assert value not in found.stdout + found.stderr

    several = run_broker(database, home, "audit", "dwelling", "prøvevej 1")
    assert several.returncode == 1
    assert "several dwellings match" in several.stderr
    assert site.kept in several.stderr


def test_policy_text_prints_the_exact_stored_text(database: Database, tmp_path: Path) -> None:
    """The text as it was put in force, byte for byte; an unknown hash exits 1."""
    site = Site(database, tmp_path / "home")
    with session_scope(site.app.state.session_factory) as session:
        version = session.query(PolicyVersion).first()
        assert version is not None
        content_hash, stored = version.content_hash, version.text
    printed = run_broker(database, tmp_path / "home", "audit", "policy-text", content_hash)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == stored
    unknown = run_broker(database, tmp_path / "home", "audit", "policy-text", "0" * 64)
    assert unknown.returncode == 1
