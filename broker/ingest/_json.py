"""Read a JSON schedule upload (the ``schedule-upload`` JSON Schema in ``schemas/json``).

Keys the contract does not know are dropped before validation, exactly like
unknown CSV columns: a key the field catalogue knows (``lejer_navn``, ``CPR``) is
reported by its catalogue field name, any other by its position only
(``key 10 of departments[0].dwellings[0] (unknown key)``), since a key may itself
be data. Every kept text value is checked for personal identifiers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from broker import bounded_json
from broker.errors import InputError, Problem, validation_errors
from schemas import (
    CATALOGUE,
    DepartmentSchedule,
    DwellingSchedule,
    Phase,
    ScheduleUpload,
    heading_key,
    looks_personal,
)

__all__ = ["parse_json_upload", "validation_problems"]

# The keys each nesting level of the document may carry: upload, department, dwelling, phase.
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset(ScheduleUpload.model_fields),
    frozenset(DepartmentSchedule.model_fields),
    frozenset(DwellingSchedule.model_fields),
    frozenset(Phase.model_fields),
)


def validation_problems(exc: ValidationError) -> tuple[Problem, ...]:
    """Return a pydantic error as problems naming the field and the rule, never the input."""
    return tuple(
        Problem(rule, column=".".join(loc) or "body") for loc, rule in validation_errors(exc)
    )


def _dropped_label(key: str, position: int, path: str) -> str:
    """Name a dropped key by its catalogue field, or by where it is when the catalogue lacks it."""
    field = CATALOGUE.get(key) or CATALOGUE.by_heading().get(heading_key(key))
    if field is not None:
        return field.name
    return f"key {position} of {path or 'the document'} (unknown key)"


class _Cleaner:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.problems: list[Problem] = []
        self._seen: set[str] = set()

    def clean(self, value: Any, depth: int, path: str) -> Any:
        if isinstance(value, list):
            return [self.clean(item, depth, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict) and depth < len(_LEVELS):
            known = _LEVELS[depth]
            kept: dict[str, Any] = {}
            for position, (key, item) in enumerate(value.items(), start=1):
                if key not in known:
                    # The key's text is held only to report each distinct key once.
                    if key not in self._seen:
                        self._seen.add(key)
                        label = _dropped_label(key, position, path)
                        if label not in self.dropped:
                            self.dropped.append(label)
                    continue
                child = f"{path}.{key}" if path else key
                nested = key in {"departments", "dwellings", "phases"}
                kept[key] = self.clean(item, depth + 1 if nested else depth, child)
            return kept
        if isinstance(value, str):
            kind = looks_personal(value)
            if kind is not None:
                self.problems.append(
                    Problem(f"looks like {kind}: remove personal data", column=path)
                )
        return value


def parse_json_upload(data: bytes) -> tuple[ScheduleUpload, tuple[str, ...]]:
    """Return the upload and the dropped keys, named as the module docstring says.

    Raises:
        InputError: not JSON, a personal-looking value, or a rule of the contract broken.
    """
    try:
        document = bounded_json.loads(data.decode("utf-8-sig"))
    except bounded_json.NestedTooDeep as exc:
        raise InputError("not a schedule", (Problem(exc.msg),)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("not JSON", (Problem("the file must be UTF-8 JSON"),)) from exc
    cleaner = _Cleaner()
    cleaned = cleaner.clean(document, 0, "")
    if cleaner.problems:
        raise InputError(
            f"upload rejected: {len(cleaner.problems)} problem(s)", tuple(cleaner.problems)
        )
    try:
        upload = ScheduleUpload.model_validate(cleaned)
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise InputError(f"upload rejected: {len(problems)} problem(s)", problems) from None
    return upload, tuple(cleaner.dropped)
