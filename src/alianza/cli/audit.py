"""``alianza audit verify|log|disclosures``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from alianza.audit import views
from alianza.cli.common import ConfigOption, JsonOption, UserOption, acting_user, emit, handles_errors, node_from
from alianza.i18n import gettext_for, normalise_lang

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
@handles_errors
def verify(
    lang: str = typer.Option("en", "--lang"),
    partner: str | None = typer.Option(None, "--partner", help="Check that partner's history we saw is intact"),
    config: Path | None = ConfigOption,
) -> None:
    """Check the whole chain; every edited, deleted or reordered entry is named. Exit 1 if any."""
    gettext = gettext_for(normalise_lang(lang))
    if partner:
        _verify_partner(partner, config, gettext)
        return
    with node_from(config) as node, node.db.reading() as session:
        result = node.trail.verify(session)
    for problem in result.problems:
        typer.echo(f"entry {problem.seq}: {problem.message(gettext)}")
    if result.ok:
        typer.echo(f"OK: {result.checked} entries, head {result.head_seq} {result.head_hash[:16]}…")
        return
    typer.echo(f"TAMPERED: {len(result.problems)} problem(s) in {result.checked} entries.", err=True)
    raise typer.Exit(1)


@app.command("log")
@handles_errors
def log(
    after: int = typer.Option(0, "--after"),
    limit: int = typer.Option(50, "--limit"),
    action: str | None = typer.Option(None, "--action"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Read the audit log."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "object": f"{e.object_type}:{e.object_id}",
            }
            for e in views.entries(session, acting_user(session, user), after=after, limit=limit, action=action)
        ]
    emit(rows, ["seq", "at", "actor", "action", "object"], as_json)


@app.command("disclosures")
@handles_errors
def disclosures(
    us_persons: bool = typer.Option(False, "--us-persons", help="Only the Privacy Act accounting (US persons)"),
    record: str | None = typer.Option(None, "--record"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """The accounting of disclosures / 28 CFR 23 dissemination log: date, record, recipient, purpose, ground."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {
                "at": d.at.isoformat(timespec="seconds"),
                "record": d.record_id,
                "recipient": d.recipient_agency,
                "purpose": d.purpose,
                "ground": d.legal_basis,
                "release": d.release_id,
            }
            for d in views.disclosures(
                session, acting_user(session, user), us_persons_only=us_persons, record_id=record
            )
        ]
    emit(rows, ["at", "record", "recipient", "purpose", "ground", "release"], as_json)


def _verify_partner(partner: str, config: Path | None, gettext: Any) -> None:
    import httpx

    from alianza.federation.checkpoints import verify_partner

    with node_from(config) as node, httpx.Client(timeout=30) as client:
        proof = verify_partner(node, partner, client)
    if proof is None:
        typer.echo(gettext("No checkpoint of {partner}'s audit chain has been received yet.").format(partner=partner))
        raise typer.Exit(1)
    if proof.ok:
        typer.echo(
            gettext("OK: {partner} still shows entry {seq} as we saw it; its chain now reaches {head}.").format(
                partner=partner, seq=proof.seq, head=proof.head_seq
            )
        )
        return
    typer.echo(
        gettext(
            "CHANGED: {partner} now shows entry {seq} differently from what we saw; its history was rewritten."
        ).format(partner=partner, seq=proof.seq),
        err=True,
    )
    raise typer.Exit(1)
