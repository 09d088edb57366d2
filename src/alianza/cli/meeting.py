"""``alianza meeting add|list|ics``."""

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
from alianza.cooperation import calendar
from alianza.cooperation import meetings as service
from alianza.cooperation.schemas import MeetingInput
from alianza.i18n import normalise_lang

app = typer.Typer(help="Meetings of the implementation group.", no_args_is_help=True)


@app.command("add")
@handles_errors
def add(
    title_en: str = typer.Option(..., "--title-en"),
    title_es: str = typer.Option(..., "--title-es"),
    date: dt.datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"]),
    place: str = typer.Option(..., "--place"),
    chair: list[str] = typer.Option([], "--chair", help="Chair (repeatable)"),
    agency: list[str] = typer.Option([], "--agency", help="Participating agency code (repeatable)"),
    agenda_en: str = typer.Option("", "--agenda-en"),
    agenda_es: str = typer.Option("", "--agenda-es"),
    next_date: dt.datetime | None = typer.Option(None, "--next", formats=["%Y-%m-%d"], help="Date of the next meeting"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Add a meeting."""
    data = validated(
        MeetingInput,
        {
            "title_en": title_en,
            "title_es": title_es,
            "date": date.date(),
            "place": place,
            "chairs": chair,
            "agencies": agency,
            "agenda_en": agenda_en,
            "agenda_es": agenda_es,
            "next_meeting_date": next_date.date() if next_date else None,
        },
    )
    with node_from(config) as node, node.db.transaction() as session:
        m = service.create_meeting(session, acting_user(session, user), data)
        typer.echo(f"Meeting {m.id} created.")


@app.command("list")
@handles_errors
def list_(
    lang: str = typer.Option("en", "--lang"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """List meetings."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {
                "id": m.id,
                "date": m.date.isoformat(),
                "place": m.place,
                "decisions": len(m.decisions),
                "title": m.title_es if lang == "es" else m.title_en,
            }
            for m in service.list_meetings(session, acting_user(session, user))
        ]
    emit(rows, ["id", "date", "place", "decisions", "title"], as_json)


@app.command("ics")
@handles_errors
def ics(
    output: Path = typer.Option(Path("meetings.ics"), "-o", "--output"),
    lang: str = typer.Option("en", "--lang"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Export the meetings as an iCalendar file."""
    with node_from(config) as node, node.db.reading() as session:
        body = calendar.meetings_ical(
            service.list_meetings(session, acting_user(session, user)),
            normalise_lang(lang),
            node.settings.node_name,
        )
    output.write_bytes(body)
    typer.echo(f"Wrote {output}")
