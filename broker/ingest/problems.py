"""A rejected upload's problems, grouped by rule: one systematic error is one line, not 4,418.

A problem names its row, its column and the rule it breaks, never the value
(:class:`broker.errors.Problem`), so a group and its first rows can be shown and
printed wherever the problems themselves may be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from broker.errors import Problem

__all__ = ["ProblemGroup", "group_problems"]

FIRST_ROWS = 5
"""How many of a group's rows are named."""


@dataclass(frozen=True, slots=True)
class ProblemGroup:
    """Every problem with one rule in one column: how many, and the first rows."""

    rule: str
    column: str | None
    count: int
    rows: tuple[int, ...]

    def __str__(self) -> str:
        """Render as ``column Postnr: must be 4 digits (4,418 rows: 2, 3, 4, 5, 6, ...)``.

        A group of one problem renders as the problem: ``row 3, column Dør: rule``.
        """
        if self.count == 1 or not self.rows:
            row = self.rows[0] if self.count == 1 and self.rows else None
            return str(Problem(self.rule, row=row, column=self.column))
        where = f"column {self.column}: " if self.column else ""
        shown = ", ".join(str(row) for row in self.rows)
        more = ", ..." if self.count > len(self.rows) else ""
        return f"{where}{self.rule} ({self.count:,} rows: {shown}{more})"


def group_problems(problems: Iterable[Problem], *, first: int = FIRST_ROWS) -> list[ProblemGroup]:
    """Group ``problems`` by column and rule, in the order each group first appears."""
    counts: dict[tuple[str | None, str], int] = {}
    rows: dict[tuple[str | None, str], list[int]] = {}
    for problem in problems:
        key = (problem.column, problem.rule)
        counts[key] = counts.get(key, 0) + 1
        named = rows.setdefault(key, [])
        if problem.row is not None and len(named) < first and problem.row not in named:
            named.append(problem.row)
    return [
        ProblemGroup(rule, column, counts[column, rule], tuple(rows[column, rule]))
        for column, rule in counts
    ]
