"""The layers hold: `schemas` imports only pydantic, `audit` never imports the broker.

And each package is used by the others only through its public surface: no module
imports a private module or name (``_x``) of another package.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "schemas": {"pydantic", "schemas"},
    "audit": {"audit", "cryptography", "sqlalchemy", "rfc8785", "orjson"},
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


# Every package whose private modules others must not import: the three import
# packages and each of the broker's topic packages.
SCANNED = ("audit", "broker", "schemas")


def _package_of(path: Path) -> str:
    """Return the package a source file belongs to: ``broker.policy``, ``broker``, ``audit``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if len(parts) > 2 and parts[0] == "broker":  # broker/<topic>/<module>
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def _owner(name: str) -> str | None:
    """Return the package whose private part ``name`` reaches into, or None if it is public."""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def private_imports(path: Path, source: str) -> set[str]:
    """Return what ``source`` (the module at ``path``) imports from another package's privates."""
    importer = _package_of(path)
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name)
            if owner is not None and owner.split(".")[0] in SCANNED and owner != importer:
                found.add(f"{path.relative_to(ROOT)}: {name}")
    return found


def test_no_package_imports_another_packages_private_modules() -> None:
    """`audit`, `schemas` and the broker's topic packages are used only through their `__all__`."""
    found = set()
    for package in SCANNED:
        for path in (ROOT / package).rglob("*.py"):
            found |= private_imports(path, path.read_text(encoding="utf-8"))
    assert not found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("broker/scheduler/_cron.py", "from broker.policy._agreement import Schedule, _expand\n"),
        ("broker/contact/service.py", "from broker.release import Queued, _payload\n"),
        ("broker/runner.py", "import audit._storage\n"),
        ("broker/disclosure/service.py", "from audit import _storage as log_storage\n"),
        ("broker/api/_auditor.py", "def f() -> None:\n    from broker.policy._cases import x\n"),
        ("audit/_check.py", "from schemas._private import thing\n"),
    ],
)
def test_the_check_refuses_a_private_import_across_packages(module: str, source: str) -> None:
    """A synthetic module that reaches into another package's private part is caught."""
    assert private_imports(ROOT / module, source)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("broker/policy/_load.py", "from broker.policy._agreement import Flow, _expand\n"),
        ("broker/api/app.py", "from broker.api._auth import Authenticate\n"),
        ("audit/_check.py", "from audit._storage import log_entries\n"),
        ("broker/contact/service.py", "from broker.release import Queued, queue\n"),
        ("broker/cli/_release.py", "from __future__ import annotations\nimport httpx._client\n"),
    ],
)
def test_the_check_allows_own_privates_and_public_surfaces(module: str, source: str) -> None:
    """A package's own private modules, another's public names and other libraries pass."""
    assert not private_imports(ROOT / module, source)
