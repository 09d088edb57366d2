"""``alianza commitment add|list|show|update|note``."""

from __future__ import annotations

import datetime as dt
import json
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
from alianza.cooperation import commitments as service
from alianza.cooperation.schemas import CommitmentInput, CommitmentPatch

app = typer.Typer(help="Commitments of the mechanism.", no_args_is_help=True)


@app.command("add")
@handles_errors
def add(
    title_en: str = typer.Option(..., "--title-en"),
    title_es: str = typer.Option(..., "--title-es"),
    area: list[str] = typer.Option(..., "--area", help="Measure area code (repeat for several)"),
    country: str = typer.Option(..., "--country", help="Responsible country: US or MX"),
    lead: str = typer.Option(..., "--lead", help="Lead agency code"),
    due: dt.datetime = typer.Option(..., "--due", formats=["%Y-%m-%d"], help="Due date YYYY-MM-DD"),
    support: list[str] = typer.Option([], "--support", help="Supporting agency code (repeatable)"),
    description_en: str = typer.Option("", "--description-en"),
    description_es: str = typer.Option("", "--description-es"),
    meeting: int | None = typer.Option(
        None, "--meeting", help="Id of the meeting that agreed it (default: the statement)"
    ),
    status: str = typer.Option("proposed", "--status"),
    progress: int = typer.Option(0, "--progress"),
    indicator: list[str] = typer.Option([], "--indicator", help="Linked indicator code (repeatable)"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Add a commitment."""
    data = validated(
        CommitmentInput,
        {
            "title_en": title_en,
            "title_es": title_es,
            "description_en": description_en,
            "description_es": description_es,
            "areas": area,
            "country": country.upper(),
            "lead_agency": lead,
            "supporting_agencies": support,
            "origin_meeting_id": meeting,
            "due_date": due.date(),
            "status": status,
            "progress": progress,
            "indicator_codes": indicator,
        },
    )
    with node_from(config) as node, node.db.transaction() as session:
        c = service.create_commitment(session, acting_user(session, user), data)
        typer.echo(f"Commitment {c.id} created (version {c.version}).")


@app.command("list")
@handles_errors
def list_(
    area: str | None = typer.Option(None, "--area"),
    country: str | None = typer.Option(None, "--country"),
    status: str | None = typer.Option(None, "--status", help="Effective status, 'overdue' included"),
    agency: str | None = typer.Option(None, "--agency"),
    text: str | None = typer.Option(None, "--q", help="Words in the title or description"),
    lang: str = typer.Option("en", "--lang"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """List commitments."""
    flt = service.CommitmentFilter(
        area=area, country=country.upper() if country else None, status=status, agency=agency, text=text
    )
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {
                "id": c.id,
                "country": c.country,
                "due": c.due_date.isoformat(),
                "status": service.effective_status(c),
                "progress": c.progress,
                "lead": c.lead_agency,
                "title": c.title_es if lang == "es" else c.title_en,
            }
            for c in service.list_commitments(session, acting_user(session, user), flt)
        ]
    emit(rows, ["id", "country", "due", "status", "progress", "lead", "title"], as_json)


@app.command("show")
@handles_errors
def show(
    commitment_id: int,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Show a commitment and its timeline as JSON."""
    with node_from(config) as node, node.db.reading() as session:
        c = service.read_commitment(session, acting_user(session, user), commitment_id)
        out = service.snapshot(c) | {
            "id": c.id,
            "effective_status": service.effective_status(c),
            "timeline": [
                {
                    "at": f.created_at.isoformat(),
                    "by": f.author.username if f.author else None,
                    "kind": f.kind,
                    "changes": f.changes,
                    "note": f.note,
                }
                for f in c.followups
            ],
        }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@app.command("update")
@handles_errors
def update(
    commitment_id: int,
    status: str | None = typer.Option(None, "--status"),
    progress: int | None = typer.Option(None, "--progress"),
    due: dt.datetime | None = typer.Option(None, "--due", formats=["%Y-%m-%d"]),
    lead: str | None = typer.Option(None, "--lead"),
    note: str = typer.Option("", "--note", help="Why it changed (goes to the timeline)"),
    version: int | None = typer.Option(None, "--version", help="The version you saw; refused if someone saved since"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Change a commitment; the change and the note become a follow-up in its timeline."""
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        current = service.read_commitment(session, actor, commitment_id)
        patch = validated(
            CommitmentPatch,
            {
                "version": version or current.version,
                "status": status,
                "progress": progress,
                "due_date": due.date() if due else None,
                "lead_agency": lead,
                "note": note,
            },
        )
        c = service.update_commitment(session, actor, commitment_id, patch)
        typer.echo(f"Commitment {c.id} updated (version {c.version}, status {service.effective_status(c)}).")


@app.command("note")
@handles_errors
def note(
    commitment_id: int,
    text: str = typer.Argument(..., help="What happened"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Add a follow-up note to a commitment's timeline."""
    with node_from(config) as node, node.db.transaction() as session:
        service.add_note(session, acting_user(session, user), commitment_id, text)
    typer.echo("Follow-up added.")
