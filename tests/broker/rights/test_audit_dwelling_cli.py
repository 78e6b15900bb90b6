"""`broker audit dwelling` answers as the access-request page does; `policy-text` prints a text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clirun import run_broker
from databases import Database
from sqlalchemy import select

from broker.db import session_scope
from broker.disclosure.models import EntryDwelling
from broker.policy.models import PolicyVersion
from broker.release import Release
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


def _offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_each_release_carries_a_proof_of_the_dwelling_under_its_root(
    database: Database, tmp_path: Path
) -> None:
    """`--receipts` writes, per release, the dwelling's proof; it verifies offline, and only it."""
    Site(database, tmp_path / "home")
    home = tmp_path / "home"
    out = tmp_path / "answer"
    found = run_broker(
        database, home, "audit", "dwelling", "prøvevej 1 st tv", "--receipts", str(out)
    )
    assert found.returncode == 0, found.stderr
    proofs = sorted(out.glob("*.dwelling-proof.json"))
    assert len(proofs) == 2  # the two releases; audit reads list their one dwelling
    public = tmp_path / "log-public.pem"
    assert run_broker(database, home, "keys", "export-public", "--out", str(public)).returncode == 0
    for proof in proofs:
        receipt = out / proof.name.replace(".dwelling-proof.json", ".tlog-proof")
        checked = _offline(
            "--receipt", str(receipt), "--dwelling-proof", str(proof), "--public-key", str(public)
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        document = json.loads(proof.read_text())
        assert f"dwelling {document['reference']} is among its" in checked.stdout
        for value in PLANTED.values():
            assert value not in proof.read_text()

    # Another dwelling's reference with this proof, or the proof with another entry: refused.
    document = json.loads(proofs[0].read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "reference": "0" * 64}))
    receipt = out / proofs[0].name.replace(".dwelling-proof.json", ".tlog-proof")
    refused = _offline(
        "--receipt", str(receipt), "--dwelling-proof", str(forged), "--public-key", str(public)
    )
    assert refused.returncode == 1
    assert "is not under entry" in refused.stdout
    other = out / proofs[1].name.replace(".dwelling-proof.json", ".tlog-proof")
    crossed = _offline(
        "--receipt", str(other), "--dwelling-proof", str(proofs[0]), "--public-key", str(public)
    )
    assert crossed.returncode == 1
    assert f"the dwelling proof is about entry {document['entry']}" in crossed.stdout


def test_verify_fails_when_the_index_holds_a_reference_the_root_does_not(
    database: Database, tmp_path: Path
) -> None:
    """A row inserted into the per-dwelling index (it accepts inserts) fails `audit verify`."""
    site = Site(database, tmp_path / "home")
    home = tmp_path / "home"
    assert run_broker(database, home, "audit", "verify").returncode == 0
    with session_scope(site.app.state.session_factory) as session:
        seq = session.scalars(select(Release.log_seq).order_by(Release.log_seq)).first()
        assert seq is not None
        session.add(EntryDwelling(reference="f" * 64, seq=seq))
    failed = run_broker(database, home, "audit", "verify")
    assert failed.returncode == 1
    assert (
        f"FAILED: entry {seq}: the dwelling index does not hold the references its"
        " dwellings_root commits to"
    ) in failed.stdout
