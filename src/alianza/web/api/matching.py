"""API of matching: entity-resolution candidates and the analysts' decisions, a file linked against the node's
records, private hit/no-hit offers, hits and the requests made from them.

The routes are thin: ``matching.resolution`` finds and scores the candidate pairs among the records the caller
may see, links an uploaded file against them (``link_file``: at most ``MAX_LINK_RECORDS`` rows) and audits each
run and decision; ``matching.hitnohit`` queues offers and requests in the outbox in the same
transaction and audits them. The offers a node *answered* for the partner are listed by count only: the
partner's subjects are never stored, so they can never be shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import ValidationError, problem
from alianza.matching import hitnohit, resolution
from alianza.matching.models import MatchDecision
from alianza.matching.private_models import RECEIVED, SENT, MatchOffer
from alianza.records.models import Record
from alianza.vocab import vocabulary
from alianza.web.api.cooperation import read_upload
from alianza.web.auth import api_viewer
from alianza.web.context import Viewer, node_of

router = APIRouter(prefix="/matching", tags=["matching"])
ViewerDep = Annotated[Viewer, Depends(api_viewer)]

#: The kinds of record the resolver compares (persons by their name parts, companies by their names).
RESOLVABLE = ("Person", "Company")


# ---------------------------------------------------------------------------------------------------- shared


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    """The users behind a set of ids (who decided), for display."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def check_purpose(purpose: str) -> None:
    """A request's purpose is one of the vocabulary's, as on a release (the service takes any text)."""
    if purpose not in vocabulary().markings["purposes"]:
        raise ValidationError(
            "The input is not valid: {count} problem(s).",
            details=[problem("purpose", "Choose one of the options.")],
            count=1,
        )


# ---------------------------------------------------------------------------------------------------- views


def _record_ref(session: Session, record_id: str) -> dict[str, Any]:
    record = session.get(Record, record_id)
    return {
        "id": record_id,
        "schema": record.schema if record is not None else None,
        "caption": record.caption if record is not None else None,
    }


def candidate_view(session: Session, row: MatchDecision, users: dict[int, User]) -> dict[str, Any]:
    decider = users.get(row.decided_by_id) if row.decided_by_id is not None else None
    return {
        "id": row.id,
        "left": _record_ref(session, row.left_record_id),
        "right": _record_ref(session, row.right_record_id),
        "algorithm": row.algorithm,
        "score": row.score,
        "weight": row.weight,
        "explanation": row.explanation,
        "decision": row.decision,
        "note": row.note,
        "decided_by": decider.username if decider is not None else None,
        "decided_at": _iso(row.decided_at),
    }


def offer_view(row: MatchOffer) -> dict[str, Any]:
    """An offer without its refs: which record each ref stands for never leaves the node's own tables."""
    return {
        "offer_id": row.offer_id,
        "direction": row.direction,
        "partner": row.partner,
        "subject_count": row.subject_count,
        "status": row.status,
        "hit_count": row.hit_count,
        "created_at": _iso(row.created_at),
        "answered_at": _iso(row.answered_at),
    }


def hit_view(listed: hitnohit.ListedHit) -> dict[str, Any]:
    """A hit with its link to the request made from it (``request`` is None until one is sent; one per hit)."""
    hit, sent = listed.hit, listed.request
    return {
        "id": hit.id,
        "offer_id": hit.offer_id,
        "partner": hit.partner,
        "record": {"id": listed.record.id, "schema": listed.record.schema, "caption": listed.record.caption},
        "score": hit.score,
        "reference": hitnohit.hit_reference(hit),
        "requested_at": _iso(sent.created_at) if sent is not None else None,
        "request": None
        if sent is None
        else {
            "envelope_id": sent.envelope_id,
            "sequence": sent.sequence,
            "sent_at": _iso(sent.created_at),
            "delivered_at": _iso(sent.delivered_at),
        },
        "created_at": _iso(hit.created_at),
    }


class DecisionBody(BaseModel):
    confirm: bool
    note: str = Field(default="", max_length=2000)


@router.get("/candidates")
def list_candidates(
    request: Request,
    viewer: ViewerDep,
    schema: Literal["Person", "Company"] = "Person",
    threshold: Annotated[float | None, Query(gt=0, lt=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Run the resolver over the records you may see; the likely duplicates, decided or not (audited)."""
    node = node_of(request)
    with node.db.transaction() as session:
        rows = resolution.candidates(
            session,
            viewer.user,
            node.trail,
            schema=schema,
            threshold=threshold,
            limit=limit,
            settings=resolution.Settings.of_node(node.settings),
        )
        users = user_names(session, (r.decided_by_id for r in rows))
        return [candidate_view(session, r, users) for r in rows]


@router.post("/candidates/{pair_id}/decision")
def decide_candidate(request: Request, viewer: ViewerDep, pair_id: int, body: DecisionBody) -> dict[str, Any]:
    """Confirm (the same entity) or reject (different entities) a candidate pair; audited, revisable."""
    node = node_of(request)
    with node.db.transaction() as session:
        row = resolution.decide(session, viewer.user, node.trail, pair_id, body.confirm, body.note)
        return candidate_view(session, row, user_names(session, [row.decided_by_id]))


# ---------------------------------------------------------------------------------------------------- a file


def record_match_view(match: resolution.RecordMatch) -> dict[str, Any]:
    """A row of the file and the record it matches: the row's ref and name, the record, the probability and what
    agreed and disagreed (``resolution.agreement``), with the full explanation."""
    return {
        "ref": match.ref,
        "name": match.name,
        "record": {"id": match.record_id, "schema": match.schema, "caption": match.caption},
        "probability": match.probability,
        "weight": match.weight,
        "agreed": match.agreed,
        "disagreed": match.disagreed,
        "explanation": match.explanation,
    }


@router.post("/link")
async def link_file(
    request: Request,
    viewer: ViewerDep,
    file: Annotated[
        UploadFile,
        File(
            description="CSV with a header: name or nombre; optionally ref, birth_date, nationality, id, address, "
            "postcode, schema (English or Spanish)"
        ),
    ],
    kind: Annotated[
        Literal["Person", "Company"], Form(alias="schema", description="The kind of the node's records")
    ] = "Person",
    threshold: Annotated[float | None, Form(gt=0, lt=1, description="Match probability (default 0.5)")] = None,
) -> list[dict[str, Any]]:
    """Link a file of people or companies against the node's records you may see: each row's best match (one to
    one), likeliest first, with what agreed and disagreed. A file with any bad row is refused whole (422, each
    problem with its line); at most 50,000 rows. The run is audited with the file's name and counts."""
    require(viewer.user, Permission.READ_RECORDS)
    node = node_of(request)
    data = await read_upload(file, node.settings.upload_max_bytes)
    with node.db.transaction() as session:
        linked = resolution.link_file(
            session,
            viewer.user,
            node.trail,
            data,
            file.filename or "file.csv",
            schema=kind,
            threshold=threshold,
            settings=resolution.Settings.of_node(node.settings),
        )
    return [record_match_view(m) for m in linked.matches]


# ---------------------------------------------------------------------------------------------------- hit/no-hit


class OfferBody(BaseModel):
    partner: str = Field(min_length=1)
    record_ids: list[str] = Field(min_length=1)


class HitRequestBody(BaseModel):
    purpose: str = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=2000)
    legal_basis: str = ""


@router.post("/offers", status_code=201)
def send_offer(request: Request, viewer: ViewerDep, body: OfferBody) -> dict[str, Any]:
    """Offer our persons to the partner: keyed encodings only leave, queued with the offer (audited)."""
    node = node_of(request)
    with node.db.transaction() as session:
        row = hitnohit.send_offer(session, node, viewer.user, body.partner, body.record_ids)
        return offer_view(row)


@router.get("/offers")
def get_offers(
    request: Request, viewer: ViewerDep, direction: Literal["sent", "received"] | None = None
) -> list[dict[str, Any]]:
    """The offers we sent, then those we answered for the partner (counts only: never its subjects)."""
    directions = [direction] if direction else [SENT, RECEIVED]
    with node_of(request).db.reading() as session:
        return [offer_view(o) for d in directions for o in hitnohit.list_offers(session, viewer.user, d)]


@router.get("/hits")
def get_hits(request: Request, viewer: ViewerDep, offer_id: str | None = None) -> list[dict[str, Any]]:
    """Our hits: which of our persons the partner also holds, with the score and the request made from each."""
    with node_of(request).db.reading() as session:
        return [hit_view(h) for h in hitnohit.listed_hits(session, viewer.user, offer_id)]


@router.post("/hits/{hit_id}/request", status_code=202)
def request_from_hit(request: Request, viewer: ViewerDep, hit_id: int, body: HitRequestBody) -> dict[str, Any]:
    """Ask the partner about a hit: a formal request, queued for delivery, which the partner reviews. A hit becomes
    one request: a second is refused (409 ``conflict``, naming the first)."""
    check_purpose(body.purpose)
    node = node_of(request)
    with node.db.transaction() as session:
        hit = hitnohit.request_from_hit(
            session,
            node,
            viewer.user,
            hit_id,
            purpose=body.purpose,
            subject=body.subject,
            legal_basis=body.legal_basis,
        )
        (listed,) = hitnohit.with_requests(session, viewer.user, [hit])
        return hit_view(listed)
