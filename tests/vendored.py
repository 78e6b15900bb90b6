"""The vendored asset trees and their VERSION.md notes, read as the tests check them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DKFDS = ROOT / "broker" / "web" / "static" / "dkfds"
SWAGGER_UI = ROOT / "broker" / "api" / "static" / "swagger-ui"
_LISTED = re.compile(r"^- `([0-9a-f]{64})` `([^`]+)`$", re.MULTILINE)
_FIELD = re.compile(r"^- ([a-z ]+): (.+)$", re.MULTILINE)


def listed_files(tree: Path) -> dict[str, str]:
    """Return the files VERSION.md lists under ``tree``, by path, with their SHA-256."""
    return {path: digest for digest, path in _LISTED.findall(_note(tree))}


def note_fields(tree: Path) -> dict[str, str]:
    """Return VERSION.md's fields (package, version, npm tarball integrity, licence, date)."""
    return {name: value.strip("`") for name, value in _FIELD.findall(_note(tree))}


def present_files(tree: Path) -> dict[str, str]:
    """Return the files actually under ``tree`` (but VERSION.md), by path, with their SHA-256."""
    return {
        path.relative_to(tree).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tree.rglob("*"))
        if path.is_file() and path.name != "VERSION.md"
    }


def _note(tree: Path) -> str:
    return (tree / "VERSION.md").read_text(encoding="utf-8")
