"""``alianza release propose|review|recall|list|show`` and ``alianza request add|list|refuse``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from alianza.cli.common import ConfigOption, JsonOption, UserOption, acting_user, emit, handles_errors, node_from
from alianza.releases import service

app = typer.Typer(help="Releases to the partner through the release gate.", no_args_is_help=True)
requests_app = typer.Typer(help="Partner requests for information.", no_args_is_help=True)


@app.command("propose")
@handles_errors
def propose(
    record: list[str] = typer.Option(..., "--record", "-r", help="Record id (repeatable)"),
    to: str = typer.Option(..., "--to", help="Recipient node (partner name)"),
    agency: str = typer.Option(..., "--agency", help="Recipient agency code"),
    purpose: str = typer.Option(..., "--purpose"),
    ground: str = typer.Option(..., "--ground", help="Legal ground of the release (release_grounds vocabulary)"),
    field: list[str] = typer.Option([], "--field", help="Only these properties (repeatable; default: all)"),
    justification: str = typer.Option("", "--justification"),
    foreign_initiated: bool = typer.Option(False, "--foreign-initiated"),
    authorisation: str | None = typer.Option(None, "--authorisation", help="Mexican authorisation record"),
    judicial_use: bool = typer.Option(False, "--judicial-use"),
    request_id: int | None = typer.Option(None, "--request", help="The partner request this answers"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Propose a release; the gate answers and, unless it denies, the release waits for a legal reviewer."""
    with node_from(config) as node:
        with node.db.reading() as session:
            actor = acting_user(session, user)
            session.expunge(actor)
        proposal = service.ReleaseProposal(
            record_ids=record,
            recipient_node=to,
            recipient_agency=agency,
            purpose=purpose,
            legal_basis=ground,
            fields=field,
            justification=justification,
            foreign_initiated=foreign_initiated,
            authorisation_record=authorisation,
            judicial_use=judicial_use,
            request_id=request_id,
        )
        release = service.propose(node.db, actor, node.trail, node.framework, proposal)
    typer.echo(f"Release {release.id}: {release.outcome}, pending review.")
    for rule in release.rules:
        typer.echo(f"  [{rule['id']}] {rule['reason_en']}")


@app.command("review")
@handles_errors
def review(
    release_id: int,
    approve: bool = typer.Option(..., "--approve/--refuse"),
    note: str = typer.Option("", "--note", help="Your legal finding"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Approve (and queue for delivery) or refuse a release; the reviewer must not be the proposer."""
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        current = service.get_release(session, actor, release_id)
        release = service.review(
            session,
            actor,
            node.trail,
            node.framework,
            release_id,
            approve=approve,
            note=note,
            version=current.version,
        )
        typer.echo(f"Release {release.id} {release.status}.")


@app.command("recall")
@handles_errors
def recall(
    release_id: int,
    reason: str = typer.Option(..., "--reason"),
    record: list[str] = typer.Option([], "--record", help="Recall only these records"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Recall released records; the partner is told to remove or hide them."""
    with node_from(config) as node, node.db.transaction() as session:
        row = service.recall(session, acting_user(session, user), node.trail, release_id, reason, record or None)
        typer.echo(f"Recall {row.id} queued for {len(row.record_ids)} record(s).")


@app.command("list")
@handles_errors
def list_(
    status: str | None = typer.Option(None, "--status"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """List releases."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {
                "id": r.id,
                "status": r.status,
                "outcome": r.outcome,
                "to": r.recipient_agency,
                "records": len(r.items),
                "by": r.proposed_by.username,
            }
            for r in service.list_releases(session, acting_user(session, user), status)
        ]
    emit(rows, ["id", "status", "outcome", "to", "records", "by"], as_json)


@app.command("show")
@handles_errors
def show(release_id: int, config: Path | None = ConfigOption, user: str | None = UserOption) -> None:
    """Show a release with its rules, obligations and redactions."""
    with node_from(config) as node, node.db.reading() as session:
        r = service.get_release(session, acting_user(session, user), release_id)
        typer.echo(
            json.dumps(
                {
                    "id": r.id,
                    "status": r.status,
                    "outcome": r.outcome,
                    "rules": r.rules,
                    "obligations": r.obligations,
                    "redactions": r.redactions,
                    "records": [i.record_id for i in r.items],
                },
                indent=2,
                ensure_ascii=False,
            )
        )


@requests_app.command("add")
@handles_errors
def request_add(
    partner: str = typer.Option(..., "--partner"),
    agency: str = typer.Option(..., "--agency", help="Requesting agency code"),
    subject: str = typer.Option(..., "--subject"),
    purpose: str = typer.Option(..., "--purpose"),
    reference: str = typer.Option("", "--reference"),
    record: list[str] = typer.Option([], "--record"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Register a partner's request for information."""
    with node_from(config) as node, node.db.transaction() as session:
        row = service.register_request(
            session,
            acting_user(session, user),
            node.trail,
            partner=partner,
            requesting_agency=agency,
            subject=subject,
            purpose=purpose,
            reference=reference,
            record_ids=record,
        )
        typer.echo(f"Request {row.id} registered.")


@requests_app.command("list")
@handles_errors
def request_list(
    status: str | None = typer.Option(None, "--status"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """List partner requests."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {"id": q.id, "status": q.status, "partner": q.partner, "agency": q.requesting_agency, "subject": q.subject}
            for q in service.list_requests(session, acting_user(session, user), status)
        ]
    emit(rows, ["id", "status", "partner", "agency", "subject"], as_json)


@requests_app.command("refuse")
@handles_errors
def request_refuse(
    request_id: int,
    reason: str = typer.Option(..., "--reason"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Refuse a request with a reason the partner will see."""
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        current = service.get_request(session, actor, request_id)
        service.refuse_request(session, actor, node.trail, request_id, reason, current.version)
    typer.echo(f"Request {request_id} refused.")
