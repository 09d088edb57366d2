"""``alianza match candidates|decide|link|offer|offers|hits|request``: entity resolution and private hit/no-hit.

The commands call the same services as the API and the UI (``matching.resolution``, ``matching.hitnohit``), so
the acting user's role and need-to-know apply, and every run, decision, offer and request is audited. ``link``
reads two files and no node data, so it needs no node.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import typer

from alianza.accounts.models import User
from alianza.cli.common import ConfigOption, JsonOption, UserOption, acting_user, emit, handles_errors, node_from
from alianza.errors import ValidationError, problem
from alianza.matching import hitnohit, recordsets, resolution
from alianza.matching.models import MatchDecision
from alianza.matching.private_models import RECEIVED, SENT
from alianza.records.models import Record
from alianza.vocab import vocabulary

app = typer.Typer(help="Entity resolution and private hit/no-hit matching with the partner.", no_args_is_help=True)


def _caption(record: Record | None, record_id: str) -> str:
    return record.caption if record is not None else record_id


def _candidate(row: MatchDecision, left: Record | None, right: Record | None, decider: User | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "score": round(row.score, 4),
        "weight": round(row.weight, 3),
        "left": row.left_record_id,
        "left_caption": _caption(left, row.left_record_id),
        "right": row.right_record_id,
        "right_caption": _caption(right, row.right_record_id),
        "decision": row.decision or "",
        "decided_by": decider.username if decider is not None else "",
        "decided_at": row.decided_at.isoformat() if row.decided_at else "",
        "note": row.note,
        "explanation": row.explanation,
    }


@app.command("candidates")
@handles_errors
def candidates(
    schema: str = typer.Option("Person", "--schema", help="Person or Company"),
    threshold: float | None = typer.Option(None, "--threshold", help="Match probability from which to list a pair"),
    limit: int = typer.Option(200, "--limit"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Run the resolver over the records you may see and list the likely duplicates (audited)."""
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        found = resolution.candidates(
            session,
            actor,
            node.trail,
            schema=schema,
            threshold=threshold,
            limit=limit,
            settings=resolution.Settings.of_node(node.settings),
        )
        rows = [
            _candidate(
                r,
                session.get(Record, r.left_record_id),
                session.get(Record, r.right_record_id),
                session.get(User, r.decided_by_id) if r.decided_by_id is not None else None,
            )
            for r in found
        ]
    if as_json:
        emit(rows, [], True)
        return
    emit(rows, ["id", "score", "left", "left_caption", "right", "right_caption", "decision"], False)


@app.command("decide")
@handles_errors
def decide(
    pair_id: int = typer.Argument(..., help="The candidate pair's id (see `alianza match candidates`)"),
    confirm: bool | None = typer.Option(
        None, "--confirm/--reject", help="The same entity (--confirm) or different entities (--reject)"
    ),
    note: str = typer.Option("", "--note", help="What you checked (kept with the decision and audited)"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Confirm or reject a candidate pair; a decision can be revised, each one is audited."""
    if confirm is None:
        raise ValidationError(
            "The input is not valid: {count} problem(s).",
            details=[problem("decision", "Choose whether to confirm or to reject the match.")],
            count=1,
        )
    with node_from(config) as node, node.db.transaction() as session:
        row = resolution.decide(session, acting_user(session, user), node.trail, pair_id, confirm, note)
        decision = row.decision
    typer.echo(f"Pair {pair_id} {decision}.")


@app.command("link")
@handles_errors
def link(
    left: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV of the first record set"),
    right: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV of the second set"),
    threshold: float = typer.Option(
        resolution.DEFAULT_THRESHOLD, "--threshold", min=0.000001, max=0.999999, help="Match probability"
    ),
    engine: str = typer.Option(
        "numpy", "--engine", help="Where pairs are joined and compared: numpy, duckdb or spark (same results)"
    ),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="With --engine spark: local[N] or a URL"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the matches to this CSV"),
    as_json: bool = JsonOption,
) -> None:
    """Link two record sets from files (CSV: ref, name, birth_date, nationality, id, address, postcode, schema):
    each record's best match in the other set, with the features that agreed and those that did not."""
    records = [recordsets.read_record_set(path.read_bytes(), path.name) for path in (left, right)]
    result = resolution.link(
        records[0], records[1], resolution.Settings(threshold=threshold, engine=engine, spark_master=spark_master)
    )
    rows = []
    for match in result.matches():
        features = result.explain(match.index)["features"]
        rows.append(
            {
                "left": match.left_id,
                "right": match.right_id,
                "probability": round(match.probability, 4),
                "agreed": " ".join(f"{f['comparison']}={f['level']}" for f in features if f["weight"] > 0),
                "disagreed": " ".join(f"{f['comparison']}={f['level']}" for f in features if f["weight"] < 0),
            }
        )
    if output is not None:
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["left", "right", "probability", "agreed", "disagreed"])
            writer.writeheader()
            writer.writerows(rows)
        typer.echo(
            f"{len(rows)} match(es) of {len(records[0])} × {len(records[1])} records written to {output} "
            f"({result.stats['candidate_pairs']} pairs compared on {result.stats['engine']})."
        )
        return
    emit(rows, [] if as_json else ["left", "right", "probability", "agreed", "disagreed"], as_json)


@app.command("offer")
@handles_errors
def offer(
    partner: str = typer.Option(..., "--partner", help="The partner node (as pinned with `alianza partner add`)"),
    record: list[str] = typer.Option(..., "--record", "-r", help="One of our persons to offer (repeatable)"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Offer our persons to the partner: only keyed encodings leave, queued for delivery (audited)."""
    with node_from(config) as node, node.db.transaction() as session:
        row = hitnohit.send_offer(session, node, acting_user(session, user), partner, list(record))
        offer_id, count = row.offer_id, row.subject_count
    typer.echo(f"Offer {offer_id} queued for {partner}: {count} person(s).")


@app.command("offers")
@handles_errors
def offers(
    direction: str | None = typer.Option(None, "--direction", help="sent or received (default: both)"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """The offers we sent and those we answered for the partner (counts only, never its subjects)."""
    directions = [direction] if direction else [SENT, RECEIVED]
    with node_from(config) as node, node.db.reading() as session:
        actor = acting_user(session, user)
        rows = [
            {
                "offer_id": o.offer_id,
                "direction": o.direction,
                "partner": o.partner,
                "subjects": o.subject_count,
                "status": o.status,
                "hits": "" if o.hit_count is None else o.hit_count,
                "created_at": o.created_at.isoformat(timespec="seconds"),
            }
            for d in directions
            for o in hitnohit.list_offers(session, actor, d, limit=200)
        ]
    emit(rows, ["offer_id", "direction", "partner", "subjects", "status", "hits", "created_at"], as_json)


@app.command("hits")
@handles_errors
def hits(
    offer_id: str | None = typer.Option(None, "--offer", help="Only the hits of this offer"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Our hits: which of our persons the partner also holds, with the score."""
    with node_from(config) as node, node.db.reading() as session:
        found = hitnohit.listed_hits(session, acting_user(session, user), offer_id)
        rows = [
            {
                "id": h.hit.id,
                "record": h.hit.record_id,
                "caption": _caption(h.record, h.hit.record_id),
                "partner": h.hit.partner,
                "score": round(h.hit.score, 4),
                "offer_id": h.hit.offer_id,
                "requested_at": h.request.created_at.isoformat(timespec="seconds") if h.request else "",
            }
            for h in found
        ]
    emit(rows, ["id", "record", "caption", "partner", "score", "offer_id", "requested_at"], as_json)


@app.command("request")
@handles_errors
def request(
    hit_id: int = typer.Argument(..., help="The hit's id (see `alianza match hits`)"),
    purpose: str = typer.Option(..., "--purpose", help="A purpose code, e.g. criminal_investigation"),
    subject: str = typer.Option(..., "--subject", help="What you ask the partner about this person"),
    legal_basis: str = typer.Option("", "--legal-basis"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Turn a hit into a formal request to the partner, queued for delivery (audited)."""
    if purpose not in vocabulary().markings["purposes"]:
        raise ValidationError(
            "The input is not valid: {count} problem(s).",
            details=[problem("purpose", "Choose one of the options.")],
            count=1,
        )
    with node_from(config) as node, node.db.transaction() as session:
        hit = hitnohit.request_from_hit(
            session,
            node,
            acting_user(session, user),
            hit_id,
            purpose=purpose,
            subject=subject,
            legal_basis=legal_basis,
        )
        partner = hit.partner
    typer.echo(f"Request about hit {hit_id} queued for {partner}.")
