"""Load policy files: YAML into :class:`Policy`; problems as ``file:line: key: rule``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from broker.errors import validation_errors
from broker.policy._agreement import Flow, Policy, duration_days
from schemas import CATALOGUE

__all__ = ["LoadedPolicy", "PolicyProblem", "lint", "load_policies", "load_policy_file"]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem with a policy file: where, which key, which rule."""

    path: Path
    line: int
    key: str
    rule: str

    def __str__(self) -> str:
        """Render as ``file:line: key: rule``."""
        return f"{self.path}:{self.line}: {self.key}: {self.rule}"


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A valid policy with the file and exact text it came from."""

    policy: Policy
    path: Path
    text: str
    lines: dict[tuple[str, ...], int]


def _key_lines(node: yaml.Node, prefix: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            _key_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, str(index))
            lines[path] = item.start_mark.line + 1
            _key_lines(item, path, lines)


def _line_of(lines: dict[tuple[str, ...], int], loc: Iterable[str]) -> int:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1


def load_policy_file(path: Path) -> tuple[LoadedPolicy | None, list[PolicyProblem]]:
    """Parse and validate one policy file; return it, or the problems found."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document: Any = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [PolicyProblem(path, 1, "file", f"cannot be read ({type(exc).__name__})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [PolicyProblem(path, line, "file", "not valid YAML")]
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _key_lines(node, (), lines)
    if not isinstance(document, dict):
        return None, [PolicyProblem(path, 1, "file", "must be a YAML mapping of policy keys")]
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        problems = []
        for location, rule in validation_errors(exc):
            loc, message = list(location), rule
            if loc == [] and ": " in message:  # model-level rule naming its own key
                key, message = message.split(": ", 1)
                loc = [key]
            problems.append(
                PolicyProblem(path, _line_of(lines, loc), ".".join(loc) or "policy", message)
            )
        return None, problems
    return LoadedPolicy(policy, path, text, lines), []


def lint(loaded: list[LoadedPolicy]) -> list[PolicyProblem]:
    """Problems beyond validity: duplicates, a window that never matches, retention."""
    problems: list[PolicyProblem] = []
    seen: dict[tuple[str, Flow], LoadedPolicy] = {}
    max_days = duration_days(CATALOGUE.max_retention)
    for item in loaded:
        policy = item.policy
        key = (policy.recipient, policy.flow)
        if key in seen:
            problems.append(
                PolicyProblem(
                    item.path,
                    item.lines.get(("recipient",), 1),
                    "recipient",
                    f"a second active {policy.flow} policy for {policy.recipient} "
                    f"(first: {seen[key].path.name})",
                )
            )
        else:
            seen[key] = item
        if policy.scope is not None:
            window = policy.scope.window
            if window.days_before == 0 and window.days_after == 0:
                problems.append(
                    PolicyProblem(
                        item.path,
                        item.lines.get(("scope", "window"), 1),
                        "scope.window",
                        "an empty window (0 days before and after) matches only the run day",
                    )
                )
        if policy.schedule is not None and policy.schedule.never_fires():
            problems.append(
                PolicyProblem(
                    item.path,
                    item.lines.get(("schedule", "cron"), 1),
                    "schedule.cron",
                    "never fires: no month has that day",
                )
            )
        if policy.flow is not Flow.CONTACT_CHECK_REPLY:
            if policy.retention is None:
                problems.append(
                    PolicyProblem(item.path, 1, "retention", "missing: say how long data is kept")
                )
            elif duration_days(policy.retention) > max_days:
                problems.append(
                    PolicyProblem(
                        item.path,
                        item.lines.get(("retention",), 1),
                        "retention",
                        f"longer than the catalogue's maximum {CATALOGUE.max_retention}",
                    )
                )
    return problems


def load_policies(paths: Iterable[Path]) -> tuple[list[LoadedPolicy], list[PolicyProblem]]:
    """Load every ``*.yaml`` policy under the given files or directories, then lint them."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.glob("*.yaml") if not p.name.endswith(".case.yaml"))
            )
        else:
            files.append(path)
    loaded: list[LoadedPolicy] = []
    problems: list[PolicyProblem] = []
    for file in files:
        item, found = load_policy_file(file)
        problems.extend(found)
        if item is not None:
            loaded.append(item)
    problems.extend(lint(loaded))
    return loaded, problems
