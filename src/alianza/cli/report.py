"""``alianza report --lang es --from 2025-09-01 --to 2026-01-31 --format pdf -o report.pdf``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from alianza.cli.common import ConfigOption, UserOption, acting_user, handles_errors, node_from
from alianza.cooperation import reports
from alianza.i18n import normalise_lang


@handles_errors
def report(
    lang: str = typer.Option("en", "--lang", help="en or es"),
    start: dt.datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"]),
    end: dt.datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"]),
    fmt: str = typer.Option("html", "--format", help="html or pdf"),
    output: Path = typer.Option(..., "-o", "--output"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Write the progress report of a period, per measure area, in English or Spanish."""
    if fmt not in ("html", "pdf"):
        raise typer.BadParameter("Use html or pdf.", param_hint="--format")
    if lang not in ("en", "es"):
        raise typer.BadParameter("Use en or es.", param_hint="--lang")
    with node_from(config) as node, node.db.reading() as session:
        data = reports.build_report(
            session, acting_user(session, user), start.date(), end.date(), normalise_lang(lang), node.settings
        )
        body = reports.render_pdf(data) if fmt == "pdf" else reports.render_html(data).encode("utf-8")
    output.write_bytes(body)
    typer.echo(f"Wrote {output} ({len(body):,} bytes).")
