"""What a recipient holds: the set of records a policy's releases leave it with.

``mode: snapshot`` (a resync included) replaces the set; ``mode: changes`` upserts
``dwellings`` by ``key`` and removes the ``withdrawn`` keys, and applies only on the
set of its ``base_release``. The reference receiver applies each delivery with it,
and the broker replays its own releases with it to show what a recipient holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from broker.errors import BrokerError

__all__ = ["SetRefused", "apply_release"]


class SetRefused(BrokerError):  # noqa: N818 - what happened, like NotFound
    """A release that cannot be applied to the set held: which rule it breaks, and why.

    ``rule`` is ``order`` (older in the log than the set), ``base`` (a delta on
    another base) or ``release`` (the release's records are malformed).
    """

    def __init__(self, rule: Literal["order", "base", "release"], detail: str) -> None:
        """Keep the rule broken and a description naming ids only."""
        super().__init__(detail)
        self.rule: Literal["order", "base", "release"] = rule
        self.detail = detail


def apply_release(
    held: Mapping[str, Any] | None, content: Mapping[str, Any], *, release_id: str, index: int
) -> dict[str, Any]:
    """Return the policy's set once ``content`` (release ``release_id``, log ``index``) applies.

    ``held`` is the set held before (``policy_id``, ``release_id``, ``log_index``,
    ``dwellings`` sorted by key), or None when nothing is held. The result has the same
    shape, standing at this release.

    Raises:
        SetRefused: a release older in the log than ``held`` (``order``), a delta on
            another base (``base``), or malformed records (``release``).
    """
    policy_id = content["policy_id"]
    holding = None if held is None else str(held["release_id"])
    if held is not None and int(held["log_index"]) > index:
        detail = f"release {release_id} is older in the log than {holding}, held for {policy_id}"
        raise SetRefused("order", detail)
    dwellings: dict[str, Any] = {}
    if content["mode"] == "changes":
        base = content.get("base_release")
        if base is None or base != holding:
            detail = (
                f"release {release_id} is relative to {base}; this receiver holds "
                f"{holding or 'no release'} of {policy_id}"
            )
            raise SetRefused("base", detail)
        assert held is not None  # noqa: S101 - holding is not None
        dwellings = {record["key"]: record for record in held["dwellings"]}
    records, withdrawn = content.get("dwellings"), content.get("withdrawn")
    if not (
        isinstance(records, list)
        and all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in records)
        and isinstance(withdrawn, list)
        and all(isinstance(key, str) for key in withdrawn)
    ):
        raise SetRefused("release", "dwellings must be records with a key; withdrawn, keys")
    dwellings.update({record["key"]: record for record in records})
    for key in withdrawn:
        dwellings.pop(key, None)
    return {
        "policy_id": policy_id,
        "release_id": release_id,
        "log_index": index,
        "dwellings": [dwellings[key] for key in sorted(dwellings)],
    }
