"""``broker ingest``: load a renovation schedule export; personal columns are dropped."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from broker.cli._common import now, open_session, settings_of

if TYPE_CHECKING:
    from broker.config import Settings
    from broker.ingest import IngestReport
    from broker.renovation.preview import UploadPreview, WithdrawGuard

__all__ = ["echo_report", "ingest"]


def _progress_printer() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\rchecking rows: {done:,}/{total:,}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--org", required=True, help="The housing organisation, e.g. bo-vest.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="YAML or JSON file mapping export headings to catalogue fields.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the file and show what it would change; store nothing.",
)
@click.option(
    "--allow-withdraw",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Confirm that up to N dwellings become no longer affected (needed when a department"
    " would lose more than BROKER_WITHDRAW_GUARD_SHARE of its affected dwellings).",
)
@click.pass_context
def ingest(  # noqa: PLR0913, PLR0917 - one argument per option
    ctx: click.Context,
    path: Path,
    org: str,
    mapping: Path | None,
    dry_run: bool,
    allow_withdraw: int,
) -> None:
    """Load a renovation schedule export (CSV, XLSX or JSON) for organisation ORG.

    Each department in the file replaces that department's schedule. Columns
    that hold personal data are dropped before anything is stored. An upload that
    would leave out more than a share of a department's dwellings (a cut-off export)
    is refused unless --allow-withdraw names the count.
    """
    from broker.ingest import check_org, load_mapping, read_upload, store_upload  # noqa: PLC0415
    from broker.renovation.preview import WithdrawGuard, preview_upload  # noqa: PLC0415

    settings = settings_of(ctx)
    org = check_org(org, _configured_orgs(settings))
    column_mapping = load_mapping(mapping) if mapping is not None else None
    parsed = read_upload(path, mapping=column_mapping, progress=_progress_printer())
    guard = WithdrawGuard(settings.withdraw_guard_share, allow_withdraw)
    with open_session(settings) as session:
        if dry_run:
            echo_preview(preview_upload(session, parsed.upload, org=org), guard)
            click.echo("dry run: nothing was stored")
            return
        # The guard compares with the stored schedule itself: no preview is read twice.
        report = store_upload(session, parsed, org=org, now=now(), guard=guard)
    echo_report(report)


def _configured_orgs(settings: Settings) -> frozenset[str]:
    from broker.policy import housing_orgs, load_policies  # noqa: PLC0415 - keeps --help fast

    loaded, _problems = load_policies([settings.policies_dir])
    return housing_orgs(item.policy for item in loaded)


def echo_preview(preview: UploadPreview, guard: WithdrawGuard) -> None:
    """Print what an upload would change, department by department, and the guard's verdict."""
    from broker.renovation.preview import Change  # noqa: PLC0415 - keeps --help fast

    over = guard.over(preview)
    for department in preview.departments:
        click.echo(
            f"department {department.code}: {department.dwellings} dwellings in the file;"
            f" {department.count(Change.NEW)} new, {department.count(Change.CHANGED)} changed,"
            f" {department.unchanged} unchanged, {department.withdrawn} no longer affected"
            f" (of {department.affected_before} affected now)"
        )
        for item in department.changes:
            parts = [f"{f.name} {f.old or 'none'} -> {f.new or 'none'}" for f in item.fields]
            parts += [f"{p.kind} {_period(p.old)} -> {_period(p.new)}" for p in item.phases]
            details = f" ({'; '.join(parts)})" if parts else ""
            click.echo(f"  {item.change.value}: {item.address}{details}")
    if over and preview.withdrawn > guard.allowed:
        click.echo(
            f"would be refused: {preview.withdrawn} dwellings no longer affected;"
            f" confirm with --allow-withdraw {preview.withdrawn}"
        )


def _period(period: tuple[object, object] | None) -> str:
    return "none" if period is None else f"{period[0]}..{period[1]}"


def echo_report(report: IngestReport) -> None:
    """Print what an accepted upload did: rows, departments, dwellings, dropped columns."""
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
