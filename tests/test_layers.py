"""The layers hold: `schemas` imports only pydantic, `audit` never imports the broker."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "schemas": {"pydantic", "schemas"},
    "audit": {"audit", "cryptography", "sqlalchemy", "rfc8785"},
}


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found.update((path.name, name.split(".")[0]) for name in names)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_its_layer(package: str) -> None:
    """Each lower package imports the standard library and its allowed libraries only."""
    foreign = {
        (file, name)
        for file, name in _imports(package)
        if name not in ALLOWED[package]
        and name not in sys.stdlib_module_names
        and name != "__future__"
    }
    assert not foreign


def test_the_check_sees_imports() -> None:
    """The import scan finds what the broker imports (it is not vacuous)."""
    assert ("__init__.py", "click") in _imports("broker")
