"""Offline verification for auditors: ``python -m audit.verify``.

Needs only this package, no database and no broker::

    python -m audit.verify BUNDLE.jsonl --public-key log-public.pem
    python -m audit.verify --receipt RELEASE.tlog-proof --public-key log-public.pem
    python -m audit.verify --receipt R.tlog-proof --dwelling-proof R.dwelling-proof.json \
        --public-key log-public.pem

``--public-key`` names a PEM file of the log's public keys (every key it has
used, as ``broker keys export-public`` writes them). ``--witness-key`` adds a
witness's verifier key, whose cosignatures are then checked. ``--dwelling-proof``
checks, with a receipt, that a dwelling's keyed reference is among those the
receipt's entry commits to through its ``dwellings_root``. Exit 0 prints the
verified size and root; exit 1 prints the first failure and its entry; exit 2
is a usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit._bundle import verify_bundle
from audit._cosignature import Cosigner, parse_cosigner_key
from audit._note import NoteError, Verifier
from audit._pem import PemError, public_keys_from_pem
from audit._receipt import ReceiptError, verify_receipt
from audit._references import check_proof_document
from audit._verify import VerificationError

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify",
        description="Verify a disclosure-log export bundle or one receipt, offline.",
    )
    parser.add_argument("bundle", nargs="?", type=Path, help="an export bundle (JSON lines)")
    parser.add_argument("--receipt", type=Path, help="verify one receipt (tlog-proof) instead")
    parser.add_argument(
        "--dwelling-proof",
        type=Path,
        help="with --receipt: a dwelling's proof (JSON) under the entry's dwellings_root",
    )
    parser.add_argument(
        "--public-key", type=Path, required=True, help="PEM file of the log's public keys"
    )
    parser.add_argument(
        "--origin", help="the log's origin (default: as the bundle or receipt states it)"
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        help="a trusted witness's verifier key (name+id+key); repeatable",
    )
    parser.add_argument(
        "--min-cosignatures",
        type=int,
        default=0,
        help="for a receipt: how many trusted witnesses must have cosigned",
    )
    return parser


def _receipt_origin(text: str) -> str:
    return text.partition("\n\n")[2].split("\n", 1)[0]


def _bundle_origin(header: str) -> str:
    try:
        document = json.loads(header)
    except ValueError:
        return ""
    return str(document.get("origin", "")) if isinstance(document, dict) else ""


def _verifiers(keys: Sequence[Ed25519PublicKey], origin: str) -> list[Verifier]:
    # The log signs under its origin; an origin that is no valid key name matches no key.
    try:
        return [Verifier.of(origin, key) for key in keys]
    except NoteError:
        return []


def _run(
    args: argparse.Namespace, keys: Sequence[Ed25519PublicKey], cosigners: list[Cosigner]
) -> str:
    if args.receipt is not None:
        text = args.receipt.read_text(encoding="utf-8")
        origin = args.origin or _receipt_origin(text)
        receipt = verify_receipt(
            text, origin, _verifiers(keys, origin), cosigners, args.min_cosignatures
        )
        witnesses = ", ".join(receipt.cosigned_by) or "no trusted witness"
        verified = (
            f"verified: entry {receipt.index} is in {origin} at size "
            f"{receipt.checkpoint.size}; cosigned by {witnesses}"
        )
        if args.dwelling_proof is None:
            return verified
        entry = json.loads(receipt.entry)
        proof = args.dwelling_proof.read_text(encoding="utf-8")
        try:
            reference = check_proof_document(proof, receipt.index, entry)
        except ValueError as error:
            raise VerificationError(str(error), receipt.index) from None
        count = entry["dwellings_count"]
        return f"{verified}; dwelling {reference} is among its {count} dwellings"
    with args.bundle.open(encoding="utf-8") as lines:
        header = lines.readline()
        origin = args.origin or _bundle_origin(header)
        result = verify_bundle([header, *lines], _verifiers(keys, origin), cosigners, origin)
    root = base64.b64encode(result.verified.root).decode()
    return (
        f"verified: size {result.verified.size}, root {root} "
        f"({result.entries} entries, {result.leaves} leaf hashes, "
        f"{result.verified.checkpoints} checkpoints, {result.cosignatures} cosignatures)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.bundle is None) == (args.receipt is None):
        parser.print_usage(sys.stderr)
        print("error: give either a bundle or --receipt", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    if args.dwelling_proof is not None and args.receipt is None:
        parser.print_usage(sys.stderr)
        print("error: --dwelling-proof needs --receipt", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    if args.bundle is not None and args.min_cosignatures:
        parser.print_usage(sys.stderr)
        print("error: --min-cosignatures applies to --receipt only", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    try:
        keys = public_keys_from_pem(args.public_key.read_bytes())
        cosigners = [parse_cosigner_key(k) for k in args.witness_key]
        message = _run(args, keys, cosigners)
    except (OSError, UnicodeDecodeError, PemError, NoteError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except (VerificationError, ReceiptError) as error:
        print(f"FAILED: {error}")  # noqa: T201
        return EXIT_FAILED
    print(message)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
