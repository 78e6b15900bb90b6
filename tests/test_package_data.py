"""`pip install .` ships what the pages need: templates, catalogue and the vendored assets."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Data the code reads from beside itself at run time: all of it must be in the wheel.
DATA = ("broker/web/static", "broker/web/templates", "broker/web/locale", "broker/api/static")
SOURCES = ("pyproject.toml", "README.md", "broker", "schemas", "audit")


def _data_files() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for tree in DATA
        for path in (ROOT / tree).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.slow
def test_a_wheel_built_from_the_tree_holds_every_data_file(tmp_path: Path) -> None:
    """The wheel pip builds from a copy of the tree holds each static, template and locale file."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, tree / name, ignore=ignore)
        else:
            shutil.copy2(source, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(tree), "-w", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("renovation_broker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = _data_files()
    assert {
        "broker/web/static/dkfds/css/dkfds-virkdk.min.css",
        "broker/web/static/dkfds/js/dkfds.min.js",
        "broker/api/static/swagger-ui/swagger-ui-bundle.js",
    } <= expected
    assert not expected - shipped
    assert "broker/api/app.py" in shipped
