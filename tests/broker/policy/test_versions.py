"""Policy texts are stored once per content hash, so an auditor can read any past version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.policy import load_policies, load_policy_file
from broker.policy.models import PolicyVersion
from broker.policy.service import record_versions

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


def test_texts_stored_once_per_version(session: Session, tmp_path: Path) -> None:
    """The exact file text is stored at first sight; a changed file is a new version."""
    loaded, _ = load_policies([POLICIES])
    first = record_versions(session, tuple(loaded), now=NOW)
    assert len(first) == 3
    assert record_versions(session, tuple(loaded), now=NOW) == []

    weekly = POLICIES / "albertslund-visitation-weekly.yaml"
    changed = tmp_path / weekly.name
    changed.write_text(weekly.read_text(encoding="utf-8").replace("P6M", "P3M"), encoding="utf-8")
    item, _ = load_policy_file(changed)
    assert item is not None
    assert record_versions(session, (item,), now=NOW) == [item.policy.content_hash]

    rows = session.scalars(
        select(PolicyVersion).where(PolicyVersion.policy_id == "albertslund-visitation-weekly")
    ).all()
    assert {row.text for row in rows} == {
        weekly.read_text(encoding="utf-8"),
        changed.read_text(encoding="utf-8"),
    }
    assert all(row.first_seen_at == NOW for row in rows)
