"""``broker demo-data``: a synthetic ERP export for one department."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from audit import write_atomic
from broker.cli._common import now, open_session, settings_of
from broker.cli._ingest import echo_report
from broker.config import Settings
from broker.renovation.repository import newest_upload

__all__ = ["demo_data"]


@click.command("demo-data")
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
@click.option(
    "--load",
    "org",
    metavar="ORG",
    default=None,
    help="Also load the export for ORG, as `broker ingest` does, unless ORG's newest "
    "schedule in the database was not loaded by the demo (then it is kept).",
)
@click.option(
    "--next",
    "next_out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write next week's export here: one stairwell a week later, one dwelling left"
    " out (to try the rehousing pages' preview with).",
)
@click.pass_context
def demo_data(
    ctx: click.Context,
    out: Path,
    start: dt.datetime | None,
    org: str | None,
    next_out: Path | None,
) -> None:
    """Write a synthetic ERP export for one department of 306 dwellings.

    Street names and people are fictional; the personal columns hold fake
    values so that ingest's dropping of them can be seen. With ``--load`` the
    demo never replaces a schedule someone else uploaded: the id of the upload it
    made is kept beside the export (``OUT.upload``), and a newer upload wins.
    """
    from broker.demo import write_demo_csv  # noqa: PLC0415 - keeps --help fast

    first_day = start.date() if start is not None else now().date() - dt.timedelta(weeks=26)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = write_demo_csv(out, start=first_day)
    click.echo(f"wrote {rows} rows to {out} (plan starts {first_day.isoformat()})")
    if next_out is not None:
        next_out.parent.mkdir(parents=True, exist_ok=True)
        revised = write_demo_csv(next_out, start=first_day, revised=True)
        click.echo(f"wrote next week's export, {revised} rows, to {next_out}")
    if org is not None:
        _load(settings_of(ctx), out, org)


def _demo_upload(marker: Path) -> int | None:
    try:
        return int(marker.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _load(settings: Settings, export: Path, org: str) -> None:
    from broker.ingest import ingest_file  # noqa: PLC0415 - keeps --help fast

    marker = export.with_name(export.name + ".upload")
    with open_session(settings) as session:
        newest = newest_upload(session, org)
        if newest is not None and newest != _demo_upload(marker):
            click.echo(
                f"kept {org}'s schedule: its newest upload ({newest}) was not made by the "
                "demo, so the demo data was not loaded"
            )
            return
        report = ingest_file(session, export, org=org, now=now())
        session.flush()
        loaded = newest_upload(session, org)
    write_atomic(marker, f"{loaded}\n".encode())
    echo_report(report)
