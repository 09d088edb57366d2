"""``alianza indicator add|observe|list``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from alianza.cli.common import (
    ConfigOption,
    JsonOption,
    UserOption,
    acting_user,
    emit,
    handles_errors,
    node_from,
    validated,
)
from alianza.cooperation import indicators as service
from alianza.cooperation.schemas import IndicatorInput, ObservationInput

app = typer.Typer(help="Indicators and their observations.", no_args_is_help=True)


@app.command("add")
@handles_errors
def add(
    code: str = typer.Option(..., "--code"),
    name_en: str = typer.Option(..., "--name-en"),
    name_es: str = typer.Option(..., "--name-es"),
    unit_en: str = typer.Option(..., "--unit-en"),
    unit_es: str = typer.Option(..., "--unit-es"),
    area: str = typer.Option(..., "--area"),
    direction: str = typer.Option(..., "--direction", help="increase or decrease: where progress goes"),
    source: str = typer.Option("", "--source"),
    baseline: float | None = typer.Option(None, "--baseline"),
    baseline_date: dt.datetime | None = typer.Option(None, "--baseline-date", formats=["%Y-%m-%d"]),
    target: float | None = typer.Option(None, "--target"),
    target_date: dt.datetime | None = typer.Option(None, "--target-date", formats=["%Y-%m-%d"]),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Define an indicator."""
    data = validated(
        IndicatorInput,
        {
            "code": code,
            "name_en": name_en,
            "name_es": name_es,
            "unit_en": unit_en,
            "unit_es": unit_es,
            "area": area,
            "direction": direction,
            "source": source,
            "baseline_value": baseline,
            "baseline_date": baseline_date.date() if baseline_date else None,
            "target_value": target,
            "target_date": target_date.date() if target_date else None,
        },
    )
    with node_from(config) as node, node.db.transaction() as session:
        service.create_indicator(session, acting_user(session, user), data)
    typer.echo(f"Indicator {code} created.")


@app.command("observe")
@handles_errors
def observe(
    code: str,
    value: float = typer.Option(..., "--value"),
    date: dt.datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"]),
    source: str = typer.Option(..., "--source", help="The public source of the figure"),
    source_url: str = typer.Option("", "--source-url"),
    period_en: str = typer.Option("", "--period-en"),
    period_es: str = typer.Option("", "--period-es"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Record an observation of an indicator, with its source."""
    data = validated(
        ObservationInput,
        {
            "date": date.date(),
            "value": value,
            "source": source,
            "source_url": source_url,
            "period_en": period_en,
            "period_es": period_es,
        },
    )
    with node_from(config) as node, node.db.transaction() as session:
        service.observe(session, acting_user(session, user), code, data)
    typer.echo(f"Observation of {code} on {date.date().isoformat()} recorded.")


@app.command("list")
@handles_errors
def list_(
    lang: str = typer.Option("en", "--lang"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """List indicators with their latest value and progress."""
    with node_from(config) as node, node.db.reading() as session:
        rows = []
        for i in service.list_indicators(session, acting_user(session, user)):
            p = service.progress(i)
            rows.append(
                {
                    "code": i.code,
                    "area": i.area,
                    "latest": p.latest.value if p.latest else "",
                    "date": p.latest.date.isoformat() if p.latest else "",
                    "progress": f"{p.fraction:.0%}" if p.fraction is not None else "",
                    "name": i.name_es if lang == "es" else i.name_en,
                }
            )
    emit(rows, ["code", "area", "latest", "date", "progress", "name"], as_json)
