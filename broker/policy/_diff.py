"""Compare what two versions of a policy would release: what a DPO reads before approving."""

from __future__ import annotations

from dataclasses import dataclass

from broker.policy._evaluate import ReleasePlan

__all__ = ["DwellingChange", "PlanDiff", "diff_plans"]


@dataclass(frozen=True, slots=True)
class DwellingChange:
    """For one dwelling: fields newly released, newly withheld, and released differently."""

    ref: str
    released: tuple[str, ...]
    withheld: tuple[str, ...]
    transformed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """The difference between two plans on the same schedule and date."""

    fields_released: tuple[str, ...]
    fields_withheld: tuple[str, ...]
    transforms_changed: tuple[tuple[str, str, str], ...]
    dwellings: tuple[DwellingChange, ...]


def diff_plans(old: ReleasePlan, new: ReleasePlan) -> PlanDiff:
    """Return, overall and per dwelling, which fields ``new`` newly releases or withholds."""
    old_fields, new_fields = set(old.fields), set(new.fields)
    transforms = tuple(
        (name, str(old.fields[name]), str(new.fields[name]))
        for name in sorted(old_fields & new_fields)
        if old.fields[name] != new.fields[name]
    )
    old_refs = {record.ref for record in old.dwellings}
    new_refs = {record.ref for record in new.dwellings}
    changes = []
    for ref in sorted(old_refs | new_refs):
        before = old_fields if ref in old_refs else set()
        after = new_fields if ref in new_refs else set()
        changed = {name for name, _old, _new in transforms} if before and after else set()
        released = tuple(sorted(after - before))
        withheld = tuple(sorted(before - after))
        if released or withheld or changed:
            changes.append(DwellingChange(ref, released, withheld, tuple(sorted(changed))))
    return PlanDiff(
        fields_released=tuple(sorted(new_fields - old_fields)),
        fields_withheld=tuple(sorted(old_fields - new_fields)),
        transforms_changed=transforms,
        dwellings=tuple(changes),
    )
