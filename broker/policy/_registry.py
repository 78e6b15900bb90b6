"""The active set of policies: loaded at start, swapped whole on reload.

An invalid file on reload keeps the old set active and logs why: a typo in one
agreement never silently stops, or widens, what the others release.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from broker.policy._cases import check_policies
from broker.policy._load import LoadedPolicy, PolicyProblem

__all__ = ["PolicyRegistry"]

log = structlog.get_logger(__name__)


class PolicyRegistry:
    """The policies in force, read from one directory."""

    def __init__(
        self,
        directory: Path,
        *,
        on_loaded: Callable[[tuple[LoadedPolicy, ...]], None] | None = None,
    ) -> None:
        """Create an empty registry for ``directory``; call :meth:`reload` to load it.

        ``on_loaded`` is called with each newly accepted set (to record the texts).
        """
        self.directory = directory
        self._on_loaded = on_loaded
        self._active: tuple[LoadedPolicy, ...] = ()
        self._last_problems: tuple[PolicyProblem, ...] = ()
        self._lock = threading.Lock()

    @property
    def active(self) -> tuple[LoadedPolicy, ...]:
        """The policies in force."""
        return self._active

    @property
    def last_reload_ok(self) -> bool:
        """Whether the last (re)load found every file valid."""
        return not self._last_problems

    def get(self, policy_id: str) -> LoadedPolicy | None:
        """Return the active policy with ``policy_id``, or ``None``."""
        for item in self._active:
            if item.policy.id == policy_id:
                return item
        return None

    def reload(self) -> tuple[PolicyProblem, ...]:
        """Read every policy again; swap them in only if all are valid. Return the problems."""
        loaded, problems = check_policies([self.directory])
        with self._lock:
            self._last_problems = tuple(problems)
            if problems:
                log.warning(
                    "policy.reload_rejected",
                    problems=[str(problem) for problem in problems],
                    active=[item.policy.id for item in self._active],
                )
                return self._last_problems
            self._active = tuple(loaded)
        if self._on_loaded is not None:
            self._on_loaded(self._active)
        log.info(
            "policy.loaded",
            policies={item.policy.id: item.policy.content_hash for item in loaded},
        )
        return ()
