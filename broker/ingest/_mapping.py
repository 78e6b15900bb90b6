"""Column mapping: which export heading carries which catalogue field.

The default mapping comes from the catalogue's known headings. ``--mapping FILE``
takes a YAML or JSON object ``{"columns": {"Heading in the export": "field"}}``;
headings it does not name fall back to the default. A heading that maps to no
field, or to a ``drop`` field, is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from broker.errors import InputError, Problem
from schemas import CATALOGUE, FieldClass, heading_key

__all__ = ["ColumnMapping", "ResolvedColumns", "load_mapping", "resolve_columns"]

REQUIRED_FIELDS = (
    "afdeling",
    "lejemaalsnr",
    "vejnavn",
    "husnr",
    "postnr",
    "postnrnavn",
    "kommunekode",
    "fase",
    "startdato",
    "slutdato",
)


class ColumnMapping(BaseModel):
    """A custom column mapping: export heading to catalogue field name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: dict[str, str]


@dataclass(frozen=True, slots=True)
class ResolvedColumns:
    """Where each kept field sits in the row, and which headings are dropped."""

    index: dict[str, int]
    heading: dict[str, str]
    dropped: tuple[str, ...]


def load_mapping(path: Path) -> ColumnMapping:
    """Read a mapping file (YAML or JSON).

    Raises:
        InputError: unreadable, malformed, or naming a field the catalogue does not know.
    """
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        mapping = ColumnMapping.model_validate(document)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        rule = "must be a YAML or JSON object with a `columns` map of heading to field"
        if isinstance(exc, ValidationError):
            rule = "; ".join(
                ".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in exc.errors()
            )
        raise InputError("bad mapping file", (Problem(rule, column="--mapping"),)) from exc
    problems = [
        Problem(f"maps to unknown field {field!r}", column=heading)
        for heading, field in mapping.columns.items()
        if CATALOGUE.get(field) is None
    ]
    if problems:
        raise InputError("bad mapping file", tuple(problems))
    return mapping


def resolve_columns(headings: tuple[str, ...], mapping: ColumnMapping | None) -> ResolvedColumns:
    """Match the export's headings to catalogue fields.

    Raises:
        InputError: a required field has no column, or two columns carry one field.
    """
    by_heading = CATALOGUE.by_heading()
    custom = {heading_key(h): f for h, f in (mapping.columns.items() if mapping else ())}
    index: dict[str, int] = {}
    heading_of: dict[str, str] = {}
    dropped: list[str] = []
    problems: list[Problem] = []
    for position, heading in enumerate(headings):
        key = heading_key(heading)
        name = custom.get(key)
        if name is None:
            field = by_heading.get(key)
            name = field.name if field is not None else None
        field = CATALOGUE.get(name) if name is not None else None
        if field is None or field.classification is FieldClass.DROP:
            if heading:
                dropped.append(heading)
            continue
        if field.name in index:
            problems.append(
                Problem(
                    f"carries the same field as column {heading_of[field.name]}",
                    column=heading,
                )
            )
            continue
        index[field.name] = position
        heading_of[field.name] = heading
    default_heading = {field.name: field.headings[0] for field in CATALOGUE.fields}
    problems.extend(
        Problem("required column is missing", column=default_heading[name])
        for name in REQUIRED_FIELDS
        if name not in index
    )
    if problems:
        raise InputError("the export's columns do not fit", tuple(problems))
    return ResolvedColumns(index, heading_of, tuple(dropped))
