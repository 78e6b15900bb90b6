"""What a recipient holds: snapshots replace, changes apply on their base only."""

from __future__ import annotations

from typing import Any

import pytest

from broker.release import SetRefused, apply_release


def _content(
    mode: str, records: list[Any], withdrawn: list[Any], base: str | None = None
) -> dict[str, Any]:
    return {
        "policy_id": "weekly",
        "mode": mode,
        "base_release": base,
        "dwellings": records,
        "withdrawn": withdrawn,
    }


def test_a_snapshot_replaces_and_changes_upsert_and_remove() -> None:
    """A snapshot is the set; a delta on it upserts by key and removes the withdrawn keys."""
    first = apply_release(
        None, _content("snapshot", [{"key": "b"}, {"key": "a"}], []), release_id="r1", index=3
    )
    assert first == {
        "policy_id": "weekly",
        "release_id": "r1",
        "log_index": 3,
        "dwellings": [{"key": "a"}, {"key": "b"}],
    }
    delta = _content("changes", [{"key": "c"}, {"key": "a", "x": 1}], ["b"], base="r1")
    second = apply_release(first, delta, release_id="r2", index=5)
    assert second["dwellings"] == [{"key": "a", "x": 1}, {"key": "c"}]


@pytest.mark.parametrize(
    ("content", "index", "rule"),
    [
        (_content("changes", [], [], base="r0"), 9, "base"),
        (_content("changes", [], []), 9, "base"),
        (_content("snapshot", [], []), 2, "order"),
        (_content("snapshot", [{"no": "key"}], []), 9, "release"),
        (_content("snapshot", [], [7]), 9, "release"),
    ],
)
def test_a_release_that_does_not_apply_is_refused(
    content: dict[str, Any], index: int, rule: str
) -> None:
    """A delta on another base, an older release or malformed records: refused, by rule."""
    held = apply_release(None, _content("snapshot", [{"key": "a"}], []), release_id="r1", index=3)
    with pytest.raises(SetRefused) as refused:
        apply_release(held, content, release_id="r2", index=index)
    assert refused.value.rule == rule
