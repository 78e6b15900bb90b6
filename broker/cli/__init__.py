"""The ``broker`` command line: parse, call the domain core, render.

Exit codes: 0 success; 1 rejected input or a failed operation; 2 usage errors
(bad options, missing files) and configuration errors.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import structlog
from pydantic import ValidationError

from broker.cli._audit import audit
from broker.cli._common import (
    HANDLED,
    CommandFailed,
    now,
    open_session,
    report,
    send_to_witnesses,
    settings_of,
)
from broker.cli._keys import keys
from broker.cli._release import deliver, push, receiver, scheduler
from broker.cli._tokens import token
from broker.cli._witness import witness
from broker.config import load_settings
from broker.db import make_engine, upgrade
from broker.errors import ConfigError
from broker.logging import configure_logging, new_run_id

if TYPE_CHECKING:
    from broker.policy import ReleasePlan

__all__ = ["main"]

log = structlog.get_logger(__name__)

PID_FILE = "broker.pid"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The renovation data-sharing broker."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        message = f"invalid settings ({fields}); see README, Configuration"
        raise ConfigError(message) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    structlog.contextvars.bind_contextvars(run_id=new_run_id())
    ctx.obj = settings


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply the database migrations (creates the SQLite file if needed)."""
    settings = settings_of(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"database at revision {revision}")


def _progress_printer() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\rchecking rows: {done:,}/{total:,}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


@cli.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--org", required=True, help="The housing organisation, e.g. bo-vest.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="YAML or JSON file mapping export headings to catalogue fields.",
)
@click.pass_context
def ingest(ctx: click.Context, path: Path, org: str, mapping: Path | None) -> None:
    """Load a renovation schedule export (CSV, XLSX or JSON) for organisation ORG.

    Each department in the file replaces that department's schedule. Columns
    that hold personal data are dropped before anything is stored.
    """
    from broker.ingest import ingest_file, load_mapping  # noqa: PLC0415 - keeps --help fast

    settings = settings_of(ctx)
    column_mapping = load_mapping(mapping) if mapping is not None else None
    with open_session(settings) as session:
        report = ingest_file(
            session,
            path,
            org=org,
            now=now(),
            mapping=column_mapping,
            progress=_progress_printer(),
        )
    stats = report.stats
    click.echo(
        f"accepted: {report.rows} rows from {report.source_format.upper()}; "
        f"{stats.departments} department(s): {', '.join(report.departments)}"
    )
    click.echo(
        f"  dwellings: {stats.dwellings} ({stats.added} new, {stats.updated} already known, "
        f"{stats.withdrawn} no longer affected); phases: {stats.phases}"
    )
    if report.dropped_columns:
        click.echo("  dropped columns (never stored): " + ", ".join(report.dropped_columns))
    else:
        click.echo("  dropped columns: none")


@cli.group()
def policy() -> None:
    """Policy commands: check, test, explain, diff, reload."""


@policy.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def policy_check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Validate and lint policy files (default: the policies directory).

    Prints each problem as file:line: key: rule; exits 1 if there is any.
    """
    from broker.policy._cases import check_policies  # noqa: PLC0415 - keeps --help fast

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
    from broker.policy._cases import check_policies  # noqa: PLC0415

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
    from broker.policy import PolicyProblem, load_policies  # noqa: PLC0415
    from broker.policy._cases import run_cases  # noqa: PLC0415

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
    from broker.policy import load_policy_file  # noqa: PLC0415
    from broker.policy._diff import diff_plans  # noqa: PLC0415
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


@cli.group()
def objection() -> None:
    """Residents' objections (GDPR Art. 21): the dwelling is left out of scheduled releases."""


def _objection(ctx: click.Context, ref: str, *, add: bool) -> bool:
    from broker.keys import load_keys  # noqa: PLC0415
    from broker.schedule.service import add_objection, remove_objection  # noqa: PLC0415

    settings = settings_of(ctx)
    ring = load_keys(settings)
    change = add_objection if add else remove_objection
    with open_session(settings) as session:
        changed = change(session, ring, ref, now=now())
    if changed:
        send_to_witnesses(settings)
    return changed


@objection.command("add")
@click.argument("dwelling")
@click.pass_context
def objection_add(ctx: click.Context, dwelling: str) -> None:
    """Record that the resident of DWELLING (its dw-... reference) objected."""
    changed = _objection(ctx, dwelling, add=True)
    click.echo(f"objection {'recorded' if changed else 'already recorded'} for {dwelling}")


@objection.command("remove")
@click.argument("dwelling")
@click.pass_context
def objection_remove(ctx: click.Context, dwelling: str) -> None:
    """Withdraw the objection recorded for DWELLING."""
    changed = _objection(ctx, dwelling, add=False)
    click.echo(f"objection {'withdrawn' if changed else 'was not recorded'} for {dwelling}")


@cli.command("demo-data")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("var/demo-export.csv"),
    show_default=True,
    help="Where to write the synthetic export (CSV).",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First day of the phase plan (default: 26 weeks ago, so the plan is under way).",
)
def demo_data(out: Path, start: dt.datetime | None) -> None:
    """Write a synthetic ERP export for one department of 306 dwellings.

    Street names and people are fictional; the personal columns hold fake
    values so that ingest's dropping of them can be seen.
    """
    from broker.demo import write_demo_csv  # noqa: PLC0415 - keeps --help fast

    first_day = start.date() if start is not None else now().date() - dt.timedelta(weeks=26)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = write_demo_csv(out, start=first_day)
    click.echo(f"wrote {rows} rows to {out} (plan starts {first_day.isoformat()})")


@cli.command()
@click.option("--host", default=None, help="Address to bind (default from settings).")
@click.option("--port", type=int, default=None, help="Port (default from settings).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the broker over HTTP."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from broker.api import create_app, stop_uploads  # noqa: PLC0415
    from broker.cli._serve import StoppingServer  # noqa: PLC0415

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = settings_of(ctx).model_copy(update=overrides)
    pid_file = settings.home / PID_FILE
    # Removed at lifespan shutdown: uvicorn re-raises SIGTERM after it, ending the process.
    app = create_app(settings, on_shutdown=lambda: pid_file.unlink(missing_ok=True))
    registry = app.state.policies
    # SIGHUP (sent by `broker policy reload`) rereads the policies; uvicorn leaves it alone.
    signal.signal(signal.SIGHUP, lambda _signum, _frame: registry.reload())
    settings.home.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False
    )
    try:
        StoppingServer(config, on_exit=lambda: stop_uploads(app)).run()
    finally:
        pid_file.unlink(missing_ok=True)


cli.add_command(keys)
cli.add_command(audit)
cli.add_command(witness)
cli.add_command(push)
cli.add_command(deliver)
cli.add_command(receiver)
cli.add_command(scheduler)
cli.add_command(token)


def main() -> None:
    """Run the command line; each error the broker raises exits with its code (one table)."""
    try:
        cli()
    except HANDLED as error:
        sys.exit(report(error))
