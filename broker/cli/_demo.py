"""``broker demo-data``: a synthetic ERP export for one department."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from broker.cli._common import now

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
