"""``broker records``: the record of processing (GDPR Art. 30(1)) of one organisation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from broker.cli._common import CommandFailed, now, open_session, settings_of

__all__ = ["records"]


@click.command("records")
@click.option(
    "--org",
    default=None,
    help="The controller (the agreements' discloser); default: the only one in force.",
)
@click.option(
    "--lang", type=click.Choice(["da", "en"]), default="da", show_default=True, help="Language."
)
@click.option(
    "--format",
    "shape",
    type=click.Choice(["text", "fideslang", "xlsx", "pdf"]),
    default="text",
    show_default=True,
    help="text; a fideslang System as JSON; or a workbook or PDF (needs --out).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.pass_context
def records(ctx: click.Context, org: str | None, lang: str, shape: str, out: Path | None) -> None:
    """Print the record of processing of an organisation, from the agreements in force.

    One section per letter of GDPR Art. 30(1); each agreement with its hash and the
    disclosure-log entry that put it on record. The page /fortegnelse shows the same.
    """
    from broker.policy import load_policies  # noqa: PLC0415 - keeps --help fast
    from broker.records import fideslang_system, record_of_processing  # noqa: PLC0415
    from broker.web import record_text, record_view  # noqa: PLC0415

    settings = settings_of(ctx)
    loaded, _problems = load_policies([settings.policies_dir])
    policies = [item.policy for item in loaded]
    disclosers = sorted({policy.discloser for policy in policies})
    chosen = org or (disclosers[0] if len(disclosers) == 1 else None)
    if chosen is None:
        raise CommandFailed("give --org, one of: " + ", ".join(disclosers))
    if shape in {"xlsx", "pdf"} and out is None:
        raise CommandFailed(f"--format {shape} writes a file: give --out")
    with open_session(settings) as session:
        record = record_of_processing(session, policies, settings, chosen, now=now())
    if shape == "fideslang":
        body = json.dumps(fideslang_system(record), indent=2, ensure_ascii=False) + "\n"
    elif shape == "text":
        body = record_text(record_view(record, lang))
    else:
        from broker.web import render_record_pdf, render_record_xlsx  # noqa: PLC0415

        view = record_view(record, lang)
        data = render_record_xlsx(view) if shape == "xlsx" else render_record_pdf(view)
        assert out is not None  # noqa: S101 - checked above
        out.write_bytes(data)
        click.echo(f"wrote the record of processing of {chosen} to {out}")
        return
    if out is not None:
        out.write_text(body, encoding="utf-8")
        click.echo(f"wrote the record of processing of {chosen} to {out}")
    else:
        click.echo(body, nl=False)
