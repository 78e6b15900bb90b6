"""``broker policy``: check, test, explain, diff and reload the policy files."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from broker.cli._common import PID_FILE, CommandFailed, now, open_session, settings_of

if TYPE_CHECKING:
    from broker.policy import ReleasePlan

__all__ = ["policy"]


@click.group()
def policy() -> None:
    """Policy commands: check, test, explain, diff, reload."""


@policy.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def policy_check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Validate and lint policy files (default: the policies directory).

    Prints each problem as file:line: key: rule; exits 1 if there is any.
    """
    from broker.policy import check_policies  # noqa: PLC0415 - keeps --help fast

    loaded, problems = check_policies(list(paths) or [settings_of(ctx).policies_dir])
    for problem in problems:
        click.echo(str(problem))
    for item in loaded:
        click.echo(
            f"ok: {item.path}: {item.policy.id} v{item.policy.version} "
            f"({item.policy.flow}) sha256:{item.policy.content_hash}"
        )
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        raise CommandFailed


@policy.command("reload")
@click.pass_context
def policy_reload(ctx: click.Context) -> None:
    """Check the policy files and tell the running `broker serve` to reload them.

    The server keeps its old set when any file is invalid.
    """
    from broker.policy import check_policies  # noqa: PLC0415

    settings = settings_of(ctx)
    loaded, problems = check_policies([settings.policies_dir])
    for problem in problems:
        click.echo(str(problem))
    pid_file = settings.home / PID_FILE
    try:
        pid = int(pid_file.read_text(encoding="ascii"))
    except (OSError, ValueError):
        click.echo(f"no running broker (no {pid_file}); nothing to reload")
        if problems:
            raise CommandFailed from None
        return
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        click.echo(f"no running broker (stale {pid_file}); nothing to reload")
        raise CommandFailed from None
    if problems:
        click.echo(f"{len(problems)} problem(s): the running broker keeps its current policies")
        raise CommandFailed
    click.echo(f"reload signalled to broker (pid {pid}): {len(loaded)} policies")


@policy.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def policy_test(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Run each policy's example cases (NAME.case.yaml beside NAME.yaml); exit 1 on a difference."""
    from broker.policy import (  # noqa: PLC0415
        PolicyProblem,
        load_policies,
        run_cases,
    )

    loaded, problems = load_policies(list(paths) or [settings_of(ctx).policies_dir])
    failed = bool(problems)
    for problem in problems:
        click.echo(str(problem))
    for item in loaded:
        result = run_cases(item)
        if isinstance(result, PolicyProblem):
            click.echo(str(result))
            failed = True
            continue
        for failure in result.failures:
            click.echo(f"FAIL: {result.path}: {failure}")
        failed = failed or bool(result.failures)
        status = "ok" if not result.failures else "failed"
        click.echo(f"{status}: {item.policy.id}: {result.cases} case(s)")
    if failed:
        raise CommandFailed


@policy.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run date (default: today).",
)
@click.pass_context
def policy_diff(ctx: click.Context, old: Path, new: Path, at: dt.datetime | None) -> None:
    """Evaluate two versions of a policy on the stored schedule and print what changes.

    Dwelling by dwelling: which fields NEW would newly release (+), withhold (-)
    or release with another transform (~).
    Releases nothing and records nothing.
    """
    from broker.policy import diff_plans, load_policy_file  # noqa: PLC0415
    from broker.policy.service import explain  # noqa: PLC0415

    versions = []
    for path in (old, new):
        loaded, problems = load_policy_file(path)
        for problem in problems:
            click.echo(str(problem), err=True)
        if loaded is None:
            raise CommandFailed
        versions.append(loaded.policy)
    run_date = at.date() if at is not None else now().date()
    with open_session(settings_of(ctx)) as session:
        before, after = (explain(session, p, at=run_date) for p in versions)
    diff = diff_plans(before, after)
    click.echo(f"policy diff {old} -> {new} at {run_date.isoformat()}")
    click.echo(
        f"dwellings released: {len(before.dwellings)} -> {len(after.dwellings)}; "
        f"in scope: {before.in_scope} -> {after.in_scope}"
    )
    click.echo("fields newly released: " + (", ".join(diff.fields_released) or "none"))
    click.echo("fields newly withheld: " + (", ".join(diff.fields_withheld) or "none"))
    for name, was, is_now in diff.transforms_changed:
        click.echo(f"transform changed: {name}: {was} -> {is_now}")
    for change in diff.dwellings:
        parts = (
            [f"+{name}" for name in change.released]
            + [f"-{name}" for name in change.withheld]
            + [f"~{name}" for name in change.transformed]
        )
        click.echo(f"  {change.ref}: {' '.join(parts)}")
    if not diff.dwellings:
        click.echo("no dwelling's release changes")


@policy.command("explain")
@click.argument("policy_id")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run date (default: today).",
)
@click.option("--dwelling", "dwelling_ref", default=None, help="Show one dwelling (dw-...).")
@click.option("--list", "list_all", is_flag=True, help="List every dwelling, not the first 10.")
@click.pass_context
def policy_explain(
    ctx: click.Context,
    policy_id: str,
    at: dt.datetime | None,
    dwelling_ref: str | None,
    list_all: bool,
) -> None:
    """Dry run: which dwellings and fields POLICY_ID would release, and why others are withheld.

    Releases nothing and writes no audit entry.
    """
    from broker.policy import load_policies  # noqa: PLC0415
    from broker.policy.service import explain  # noqa: PLC0415

    settings = settings_of(ctx)
    loaded, problems = load_policies([settings.policies_dir])
    chosen = [item.policy for item in loaded if item.policy.id == policy_id]
    if not chosen:
        invalid = [p for p in problems if p.path.stem == policy_id]
        for problem in invalid:
            click.echo(str(problem), err=True)
        click.echo(f"error: no valid policy {policy_id!r} in {settings.policies_dir}", err=True)
        raise CommandFailed
    run_date = at.date() if at is not None else now().date()
    with open_session(settings) as session:
        plan = explain(session, chosen[0], at=run_date)
    _render_plan(plan, dwelling_ref, limit=None if list_all else _EXPLAIN_LIMIT)


_EXPLAIN_LIMIT = 10


def _render_plan(plan: ReleasePlan, dwelling_ref: str | None, *, limit: int | None) -> None:
    click.echo(f"policy {plan.policy_id} sha256:{plan.policy_hash}")
    if plan.window is not None:
        first, last = plan.window
        click.echo(f"run date {plan.at.isoformat()}: phases overlapping {first} .. {last}")
    click.echo(
        f"dwellings in scope: {plan.in_scope}; left out (objection): {plan.left_out}; "
        f"would be released: {len(plan.dwellings)}"
    )
    if plan.refused is not None:
        click.echo(f"releases nothing: {plan.refused}")
    click.echo("fields released:")
    for name, transform in plan.fields.items():
        click.echo(f"  {name}: {transform}")
    click.echo("fields withheld:")
    for withheld in plan.withheld:
        click.echo(f"  {withheld.field}: {withheld.reason}")
    records = plan.dwellings
    if dwelling_ref is not None:
        records = tuple(r for r in records if r.ref == dwelling_ref)
        if not records:
            click.echo(f"dwelling {dwelling_ref}: not released by this policy at this date")
            return
    if records:
        click.echo("dwellings released:")
    for record in records[:limit]:
        values = ", ".join(f"{k}={v}" for k, v in record.values.items() if v is not None)
        phases = "; ".join(" ".join(str(v) for v in p.values()) for p in record.phases)
        click.echo(f"  {record.ref}: {values} | {phases}")
    if limit is not None and len(records) > limit:
        click.echo(f"  ... and {len(records) - limit} more (use --list)")
