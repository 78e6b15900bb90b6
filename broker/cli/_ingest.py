"""``broker ingest``: load a renovation schedule export; personal columns are dropped."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from broker.cli._common import now, open_session, settings_of

if TYPE_CHECKING:
    from broker.ingest import IngestReport

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
    echo_report(report)


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
