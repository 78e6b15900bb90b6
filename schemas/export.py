"""Export the data contract as JSON files for partners: ``python -m schemas.export [DIR]``.

Writes one JSON Schema per public model and the field catalogue as data.
A test fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas._catalogue import CATALOGUE, FieldCatalogue
from schemas._schedule import DwellingSchedule, Phase, ScheduleUpload

__all__ = ["PUBLIC_MODELS", "export", "render"]

PUBLIC_MODELS: dict[str, type[BaseModel]] = {
    "schedule-upload": ScheduleUpload,
    "dwelling-schedule": DwellingSchedule,
    "phase": Phase,
    "field-catalogue": FieldCatalogue,
}

DEFAULT_DIR = Path(__file__).parent / "json"


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    """Return every exported file's name and exact text."""
    files = {
        f"{name}.schema.json": _dump(model.model_json_schema())
        for name, model in PUBLIC_MODELS.items()
    }
    files["catalogue.json"] = _dump(CATALOGUE.model_dump(mode="json"))
    return files


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every exported file into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - thin entry point
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    for written_path in export(target):
        sys.stdout.write(f"{written_path}\n")
