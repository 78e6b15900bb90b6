"""`python -m audit.verify` as an auditor runs it: a real process, files on disk, exit codes.

Bundles and receipts come from a real log on SQLite and PostgreSQL; the verifier
itself touches no database and imports neither ``broker`` nor ``schemas``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database

from audit import (
    Draft,
    Signer,
    add_cosignature,
    append,
    cosign,
    cosigner_verifier_key,
    latest_checkpoint,
    make_receipt,
    public_keys_to_pem,
    read_head,
    verifier_key,
    write_bundle,
)

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "test.example/disclosure-log"
WITNESS = "witness.example/w1"
SIZE = 10
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
"""For tests of the verifier process itself: exports from both backends are verified above."""


def verify_cli(*args: str | Path, python: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``python [PYTHON] -m audit.verify ARGS`` from the repository root; never raises."""
    return subprocess.run(
        [sys.executable, *python, "-m", "audit.verify", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def draft(n: int) -> Draft:
    return Draft({"time": f"2026-11-{n + 1:02d}T08:00:00Z", "event": "release", "actor": f"a{n}"})


def fill(database: Database, signer: Signer, numbers: Iterable[int]) -> None:
    """One entry per append transaction, so one checkpoint per entry."""
    for n in numbers:
        with database.engine.begin() as connection:
            append(connection, [draft(n)], signer)


def export(database: Database, path: Path, *keys: Ed25519PrivateKey) -> Path:
    vkeys = [verifier_key(ORIGIN, key.public_key()) for key in keys]
    with database.engine.connect() as connection, path.open("w", encoding="utf-8") as out:
        write_bundle(connection, out, origin=ORIGIN, log_keys=vkeys)
    return path


def pem(path: Path, *keys: Ed25519PrivateKey) -> Path:
    path.write_bytes(public_keys_to_pem(key.public_key() for key in keys))
    return path


@dataclass(frozen=True, slots=True)
class Exported:
    """A committed log of ``SIZE`` entries, its bundle and its public key file."""

    database: Database
    bundle: Path
    pem: Path
    root: bytes


@pytest.fixture
def exported(database: Database, tmp_path: Path) -> Exported:
    key = Ed25519PrivateKey.generate()
    fill(database, Signer(ORIGIN, (key,)), range(SIZE))
    with database.engine.connect() as connection:
        size, root = read_head(connection)
    assert size == SIZE
    bundle = export(database, tmp_path / "log.jsonl", key)
    return Exported(database, bundle, pem(tmp_path / "log-public.pem", key), root)


def test_a_bundle_verifies_and_prints_its_size_and_root(exported: Exported) -> None:
    """Exit 0; the printed size and root are the log head's."""
    result = verify_cli(exported.bundle, "--public-key", exported.pem)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    root = base64.b64encode(exported.root).decode()
    assert result.stdout == (
        f"verified: size {SIZE}, root {root} "
        f"({SIZE} entries, 0 leaf hashes, {SIZE} checkpoints, 0 cosignatures)\n"
    )


def test_an_edited_bundle_fails_naming_the_entry(exported: Exported) -> None:
    """Exit 1, FAILED and the number of the edited entry."""
    lines = exported.bundle.read_text(encoding="utf-8").splitlines(keepends=True)
    edited = [
        line.replace('"actor":"a4"', '"actor":"zz"') if '"seq":4,' in line else line
        for line in lines
    ]
    assert edited != lines
    exported.bundle.write_text("".join(edited), encoding="utf-8")
    result = verify_cli(exported.bundle, "--public-key", exported.pem)
    assert result.returncode == EXIT_FAILED
    assert result.stdout.startswith("FAILED: entry 4: ")
    assert "do not match the signed checkpoint of size 5" in result.stdout


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda _lines: [], "the bundle is empty"),
        (lambda lines: lines[:-1], f"entry {SIZE}: the bundle has no trailer: it is cut off"),
        (lambda lines: lines[:-4], f"entry {SIZE - 3}: the bundle has no trailer: it is cut off"),
    ],
    ids=["empty", "cut-after-its-entries", "cut-inside-its-entries"],
)
def test_an_empty_or_cut_bundle_fails(
    exported: Exported, cut: Callable[[list[str]], list[str]], reason: str
) -> None:
    """An empty file or a bundle without its trailer never verifies."""
    lines = exported.bundle.read_text(encoding="utf-8").splitlines(keepends=True)
    assert '"type":"trailer"' in lines[-1]
    exported.bundle.write_text("".join(cut(lines)), encoding="utf-8")
    result = verify_cli(exported.bundle, "--public-key", exported.pem)
    assert result.returncode == EXIT_FAILED
    assert result.stdout == f"FAILED: {reason}\n"


@SQLITE_ONLY
def test_a_bundle_checked_with_the_wrong_public_key_fails(
    exported: Exported, tmp_path: Path
) -> None:
    """A key the log never used vouches for none of its checkpoints: exit 1."""
    wrong = pem(tmp_path / "wrong.pem", Ed25519PrivateKey.generate())
    result = verify_cli(exported.bundle, "--public-key", wrong)
    assert result.returncode == EXIT_FAILED
    assert result.stdout == "FAILED: checkpoint of size 1: no signature by a trusted key\n"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """A missing file, a PEM without keys, and neither or both of bundle and --receipt exit 2."""
    keys = pem(tmp_path / "log-public.pem", Ed25519PrivateKey.generate())
    no_keys = tmp_path / "no-keys.pem"
    no_keys.write_text("this file holds no PUBLIC KEY block\n", encoding="utf-8")
    bundle, receipt = tmp_path / "log.jsonl", tmp_path / "entry.tlog-proof"
    bundle.write_text("", encoding="utf-8")  # exists: an empty bundle fails with exit 1
    receipt.write_text("", encoding="utf-8")
    cases: dict[str, tuple[list[str | Path], str]] = {
        "missing-bundle": ([tmp_path / "absent.jsonl", "--public-key", keys], "absent.jsonl"),
        "missing-receipt": (
            ["--receipt", tmp_path / "absent.tlog-proof", "--public-key", keys],
            "absent.tlog-proof",
        ),
        "missing-pem": ([bundle, "--public-key", tmp_path / "absent.pem"], "absent.pem"),
        "pem-without-keys": ([bundle, "--public-key", no_keys], "no PUBLIC KEY block"),
        "neither": (["--public-key", keys], "give either a bundle or --receipt"),
        "both": (
            [bundle, "--receipt", receipt, "--public-key", keys],
            "give either a bundle or --receipt",
        ),
        "no-public-key": ([bundle], "required: --public-key"),
    }
    for case, (args, message) in cases.items():
        result = verify_cli(*args)
        assert result.returncode == EXIT_USAGE, case
        assert message in result.stderr, case
        assert result.stdout == "", case


def test_a_receipt_file_verifies_and_a_tampered_one_fails(
    exported: Exported, tmp_path: Path
) -> None:
    """Exit 0 for the receipt as issued; exit 1 once its index or entry is changed."""
    with exported.database.engine.connect() as connection:
        text = make_receipt(connection, 3)
    receipt = tmp_path / "entry-3.tlog-proof"
    receipt.write_text(text, encoding="utf-8")
    result = verify_cli("--receipt", receipt, "--public-key", exported.pem)
    assert result.returncode == EXIT_OK
    assert result.stdout == (
        f"verified: entry 3 is in {ORIGIN} at size {SIZE}; cosigned by no trusted witness\n"
    )
    for tampered in (
        text.replace("\nindex 3\n", "\nindex 4\n"),
        text.replace("\nextra ", "\nextra " + base64.b64encode(b"{}").decode(), 1),
    ):
        assert tampered != text
        receipt.write_text(tampered, encoding="utf-8")
        result = verify_cli("--receipt", receipt, "--public-key", exported.pem)
        assert result.returncode == EXIT_FAILED
        assert result.stdout.startswith("FAILED: ")


@SQLITE_ONLY
def test_a_receipt_for_another_origin_or_key_fails(exported: Exported, tmp_path: Path) -> None:
    """--origin naming another log, or a foreign public key, fails the genuine receipt."""
    receipt = tmp_path / "entry.tlog-proof"
    with exported.database.engine.connect() as connection:
        receipt.write_text(make_receipt(connection, 0), encoding="utf-8")
    wrong = pem(tmp_path / "wrong.pem", Ed25519PrivateKey.generate())
    for extra in (["--origin", "other.example/log"], ["--public-key", wrong]):
        result = verify_cli("--receipt", receipt, "--public-key", exported.pem, *extra)
        assert result.returncode == EXIT_FAILED, extra
        assert "no signature by a trusted key" in result.stdout


@SQLITE_ONLY
def test_a_witness_policy_is_applied_to_a_receipt(exported: Exported, tmp_path: Path) -> None:
    """With --witness-key, one cosignature meets --min-cosignatures 1 but not 2."""
    witness = Ed25519PrivateKey.generate()
    with exported.database.engine.begin() as connection:
        checkpoint = latest_checkpoint(connection)
        assert checkpoint is not None
        add_cosignature(connection, SIZE, WITNESS, cosign(checkpoint[1], WITNESS, witness, 1))
    with exported.database.engine.connect() as connection:
        receipt = tmp_path / "entry.tlog-proof"
        receipt.write_text(make_receipt(connection, 7), encoding="utf-8")
    trusted = ["--witness-key", cosigner_verifier_key(WITNESS, witness.public_key())]
    common: list[str | Path] = ["--receipt", receipt, "--public-key", exported.pem]
    result = verify_cli(*common, *trusted, "--min-cosignatures", "1")
    assert result.returncode == EXIT_OK
    assert result.stdout.endswith(f"at size {SIZE}; cosigned by {WITNESS}\n")
    for args in ([*trusted, "--min-cosignatures", "2"], ["--min-cosignatures", "1"]):
        result = verify_cli(*common, *args)
        assert result.returncode == EXIT_FAILED, args
        assert "trusted cosignatures, at least" in result.stdout


ROTATION = [
    pytest.param(("old", "new"), EXIT_OK, "", id="old-and-new"),
    pytest.param(("new", "old"), EXIT_OK, "", id="new-and-old"),
    pytest.param(("new",), EXIT_FAILED, "checkpoint of size 1:", id="new-only"),
    pytest.param(("old",), EXIT_FAILED, "checkpoint of size 6:", id="old-only"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("held", "code", "reason"), ROTATION)
def test_a_key_rotation_verifies_with_both_keys_in_one_pem(
    database: Database, tmp_path: Path, held: tuple[str, ...], code: int, reason: str
) -> None:
    """Checkpoints by the old key, a rotation signed by both, then the new key: both keys needed."""
    keys = {"old": Ed25519PrivateKey.generate(), "new": Ed25519PrivateKey.generate()}
    fill(database, Signer(ORIGIN, (keys["old"],)), range(4))
    fill(database, Signer(ORIGIN, (keys["new"], keys["old"])), [4])  # the rotation, size 5
    fill(database, Signer(ORIGIN, (keys["new"],)), range(5, 8))
    bundle = export(database, tmp_path / "log.jsonl", keys["old"], keys["new"])
    public = pem(tmp_path / "log-public.pem", *(keys[name] for name in held))
    result = verify_cli(bundle, "--public-key", public)
    assert result.returncode == code
    if code == EXIT_OK:
        assert result.stdout.startswith("verified: size 8, root ")
        assert "8 checkpoints" in result.stdout
    else:
        assert result.stdout == f"FAILED: {reason} no signature by a trusted key\n"


GUARD = """\
import sys
sys.modules["broker"] = None
sys.modules["schemas"] = None
{body}
"""


@SQLITE_ONLY
def test_the_verifier_runs_with_broker_and_schemas_unimportable(exported: Exported) -> None:
    """With imports of broker and schemas made to fail, the verifier still verifies."""
    args = [str(exported.bundle), "--public-key", str(exported.pem)]
    body = "from audit.verify import main\nsys.exit(main(sys.argv[1:]))"
    run = [sys.executable, "-c", GUARD.format(body=body), *args]
    result = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert result.stdout.startswith(f"verified: size {SIZE}, root ")


@pytest.mark.parametrize("package", ["broker", "schemas"])
def test_the_import_guard_bites(package: str) -> None:
    """The guard's preamble does make the package fail to import (the guard test can fail)."""
    control = [sys.executable, "-c", GUARD.format(body=f"import {package}")]
    result = subprocess.run(
        control, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != EXIT_OK
    assert f"import of {package} halted" in result.stderr


@SQLITE_ONLY
def test_the_verifier_imports_neither_broker_nor_schemas(exported: Exported) -> None:
    """-X importtime lists the modules the verifier loads: audit's, none of broker's or schemas'."""
    result = verify_cli(exported.bundle, "--public-key", exported.pem, python=["-X", "importtime"])
    assert result.returncode == EXIT_OK
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert {"audit", "audit._bundle", "audit._receipt", "cryptography"} <= imported
    assert not {name for name in imported if name.split(".")[0] in {"broker", "schemas"}}
