"""Read a JSON schedule upload (the ``schedule-upload`` JSON Schema in ``schemas/json``).

Keys the contract does not know are dropped before validation and reported by
name, exactly like unknown CSV columns; every kept text value is checked for
personal identifiers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from broker import bounded_json
from broker.errors import InputError, Problem, validation_errors
from schemas import DepartmentSchedule, DwellingSchedule, Phase, ScheduleUpload, looks_personal

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


class _Cleaner:
    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.problems: list[Problem] = []

    def clean(self, value: Any, depth: int, path: str) -> Any:
        if isinstance(value, list):
            return [self.clean(item, depth, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict) and depth < len(_LEVELS):
            known = _LEVELS[depth]
            kept: dict[str, Any] = {}
            for key, item in value.items():
                if key not in known:
                    if key not in self.dropped:
                        self.dropped.append(str(key))
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
    """Return the upload and the names of the keys dropped from it.

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
