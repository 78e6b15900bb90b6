"""Column mapping: which export heading carries which catalogue field.

The default mapping comes from the catalogue's known headings. ``--mapping FILE``
takes a YAML or JSON object ``{"columns": {"Heading in the export": "field"}}``;
headings it does not name fall back to the default. A heading that maps to no
field, or to a ``drop`` field, is dropped.

A heading's own text is shown (in problems, the summary, the stored upload, the
logs) only when it is one of the catalogue's known headings, and then in the
catalogue's spelling. Any other heading may itself be data (a name, a CPR number):
it is named by its column's number and letter, and a mapping file's entries by
their position, never by their text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from broker.errors import InputError, Problem, validation_errors
from broker.ingest._read import column_label
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
    """Where each kept field sits in the row, how to name its column, and what was dropped.

    ``heading`` names each kept field's column as problems show it; ``dropped`` names the
    dropped columns as the summary shows them. Neither holds an unknown heading's text.
    """

    index: dict[str, int]
    heading: dict[str, str]
    dropped: tuple[str, ...]


_MAPPING_SHAPE = "must be a YAML or JSON object with a `columns` map of heading to field"


def _entry(document: object, loc: tuple[str, ...]) -> str:
    """Name where a mapping file's error is by key names and positions only."""
    if not isinstance(document, dict) or not loc:
        return "--mapping"
    if loc[0] != "columns":
        keys = [str(key) for key in document]
        position = keys.index(loc[0]) + 1 if loc[0] in keys else 0
        return f"--mapping key {position}" if position else "--mapping"
    columns = document.get("columns")
    if len(loc) == 1 or not isinstance(columns, dict):
        return "--mapping columns"
    headings = [str(key) for key in columns]
    return f"--mapping entry {headings.index(loc[1]) + 1}" if loc[1] in headings else "--mapping"


def load_mapping(path: Path) -> ColumnMapping:
    """Read a mapping file (YAML or JSON).

    Errors name an entry by its position in ``columns`` (``--mapping entry 2``), never
    by its heading or field text.

    Raises:
        InputError: unreadable, malformed, or naming a field the catalogue does not know.
    """
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        problem = Problem(_MAPPING_SHAPE, column="--mapping")
        raise InputError("bad mapping file", (problem,)) from exc
    try:
        mapping = ColumnMapping.model_validate(document)
    except ValidationError as exc:
        located = tuple(
            Problem(rule, column=_entry(document, loc)) for loc, rule in validation_errors(exc)
        )
        raise InputError("bad mapping file", located) from None
    problems = [
        Problem("maps to a field the catalogue does not know", column=f"--mapping entry {n}")
        for n, field in enumerate(mapping.columns.values(), start=1)
        if CATALOGUE.get(field) is None
    ]
    if problems:
        raise InputError("bad mapping file", tuple(problems))
    return mapping


def resolve_columns(headings: tuple[str, ...], mapping: ColumnMapping | None) -> ResolvedColumns:
    """Match the export's headings to catalogue fields.

    A column is named by the catalogue's spelling of its heading when the catalogue knows
    it, as ``4 (D, mapped to vejnavn)`` when the mapping file maps it, and dropped as
    ``column 7 (G, unknown heading)`` otherwise.

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
        if key in custom:
            field = CATALOGUE.get(custom[key])
            label = column_label(position, f"mapped to {field.name}") if field else ""
            shown = f"column {label}" if field else ""
        else:
            field = by_heading.get(key)
            label = shown = CATALOGUE.known_heading(heading) or ""
        if field is None or field.classification is FieldClass.DROP:
            if heading:
                dropped.append(shown or f"column {column_label(position, 'unknown heading')}")
            continue
        if field.name in index:
            problems.append(
                Problem(f"carries the same field as column {heading_of[field.name]}", column=label)
            )
            continue
        index[field.name] = position
        heading_of[field.name] = label
    default_heading = {field.name: field.headings[0] for field in CATALOGUE.fields}
    problems.extend(
        Problem("required column is missing", column=default_heading[name])
        for name in REQUIRED_FIELDS
        if name not in index
    )
    if problems:
        raise InputError("the export's columns do not fit", tuple(problems))
    return ResolvedColumns(index, heading_of, tuple(dropped))
