"""``alianza match candidates|decide|link|offer|offers|hits|request``: entity resolution and private hit/no-hit.

The commands call the same services as the API and the UI (``matching.resolution``, ``matching.hitnohit``), so
the acting user's role and need-to-know apply, and every run, decision, offer and request is audited. ``link``
of two files reads no node data, so it needs no node; ``link FILE --records`` links a file against the node's
records the acting user may see (``resolution.link_file``, audited) and needs the node's settings.
"""

from __future__ import annotations

import csv
from dataclasses import replace
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


def _features(items: list[dict[str, str]]) -> str:
    return " ".join(f"{f['comparison']}={f['level']}" for f in items)


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


LINK_COLUMNS = ["left", "right", "probability", "agreed", "disagreed"]
RECORDS_COLUMNS = ["ref", "name", "record", "caption", "probability", "agreed", "disagreed"]


@app.command("link")
@handles_errors
def link(
    left: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV of the first record set"),
    right: Path | None = typer.Argument(
        None, exists=True, dir_okay=False, readable=True, help="CSV of the second set (or --records)"
    ),
    records: bool = typer.Option(
        False, "--records", help="Link the file against the node's records you may see instead (audited)"
    ),
    schema: str = typer.Option("Person", "--schema", help="With --records: Person or Company"),
    threshold: float = typer.Option(
        resolution.DEFAULT_THRESHOLD, "--threshold", min=0.000001, max=0.999999, help="Match probability"
    ),
    engine: str | None = typer.Option(
        None,
        "--engine",
        help="Where pairs are joined and compared: numpy, duckdb or spark (same results); default: numpy, or the "
        "node's match_engine with --records",
    ),
    spark_master: str | None = typer.Option(None, "--spark-master", help="With --engine spark: local[N] or a URL"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the matches to this CSV"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Link two record sets from files, or a file against the node's records you may see (--records), each
    record's best match, with the features that agreed and those that did not. CSV: ref, name, birth_date,
    nationality, id, address, postcode, schema (English or Spanish headers)."""
    if (right is None) == (not records):
        raise ValidationError(
            "The input is not valid: {count} problem(s).",
            details=[problem("right", "Give either a second file or --records (one of them, not both).")],
            count=1,
        )
    if right is None:
        _link_to_records(left, schema, threshold, engine, spark_master, output, as_json, config, user)
        return
    sets = [recordsets.read_record_set(path.read_bytes(), path.name) for path in (left, right)]
    settings = resolution.Settings(
        threshold=threshold, engine=engine or "numpy", spark_master=spark_master or "local[*]"
    )
    result = resolution.link(sets[0], sets[1], settings)
    rows = []
    for match in result.matches():
        summary = resolution.agreement(result.explain(match.index))
        rows.append(
            {
                "left": match.left_id,
                "right": match.right_id,
                "probability": round(match.probability, 4),
                "agreed": _features(summary["agreed"]),
                "disagreed": _features(summary["disagreed"]),
            }
        )
    if output is not None:
        _write_csv(output, rows, LINK_COLUMNS)
        typer.echo(
            f"{len(rows)} match(es) of {len(sets[0])} × {len(sets[1])} records written to {output} "
            f"({result.stats['candidate_pairs']} pairs compared on {result.stats['engine']})."
        )
        return
    emit(rows, [] if as_json else LINK_COLUMNS, as_json)


def _link_to_records(
    path: Path,
    schema: str,
    threshold: float,
    engine: str | None,
    spark_master: str | None,
    output: Path | None,
    as_json: bool,
    config: Path | None,
    user: str | None,
) -> None:
    """``match link FILE --records``: the same service as the API and the UI, without the web's row limit."""
    with node_from(config) as node, node.db.transaction() as session:
        settings = resolution.Settings.of_node(node.settings)
        settings = replace(
            settings, engine=engine or settings.engine, spark_master=spark_master or settings.spark_master
        )
        linked = resolution.link_file(
            session,
            acting_user(session, user),
            node.trail,
            path.read_bytes(),
            path.name,
            schema=schema,
            threshold=threshold,
            settings=settings,
            max_records=recordsets.MAX_RECORDS,
        )
    rows = [
        {
            "ref": m.ref,
            "name": m.name,
            "record": m.record_id,
            "caption": m.caption,
            "probability": round(m.probability, 4),
            "agreed": _features(m.agreed),
            "disagreed": _features(m.disagreed),
        }
        for m in linked.matches
    ]
    if output is not None:
        _write_csv(output, rows, RECORDS_COLUMNS)
        typer.echo(
            f"{len(rows)} match(es) of {linked.rows} rows against {linked.records} {schema} record(s) written to "
            f"{output}."
        )
        return
    emit(rows, [] if as_json else RECORDS_COLUMNS, as_json)


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
