"""API of records, releases, requests, policies and the audit log."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from alianza.accounts.permissions import Permission, require
from alianza.audit import views as audit_views
from alianza.records import service as records
from alianza.records.models import Record
from alianza.records.schemas import RecordInput, RecordPatch
from alianza.releases import service as releases
from alianza.releases.models import InfoRequest, Release
from alianza.web.auth import api_viewer
from alianza.web.context import Viewer, node_of

router = APIRouter(tags=["sharing"])
ViewerDep = Annotated[Viewer, Depends(api_viewer)]


def record_view(r: Record) -> dict[str, Any]:
    return {
        "id": r.id,
        "schema": r.schema,
        "caption": r.caption,
        "properties": r.properties,
        "markings": records.markings_of(r).model_dump(mode="json") | {"origin_country": r.origin_country},
        "partner": r.partner,
        "read_only": r.read_only,
        "purged": r.purged,
        "version": r.version,
    }


def release_view(r: Release, visible: set[str] | None = None) -> dict[str, Any]:
    """A release; the payload of a record the reader may not see is withheld (need-to-know)."""
    return {
        "id": r.id,
        "status": r.status,
        "outcome": r.outcome,
        "recipient": {"node": r.recipient_node, "country": r.recipient_country, "agency": r.recipient_agency},
        "purpose": r.purpose,
        "legal_basis": r.legal_basis,
        "fields": r.fields,
        "context": r.context,
        "rules": r.rules,
        "obligations": r.obligations,
        "redactions": r.redactions,
        "records": [
            {
                "id": i.record_id,
                "payload": i.payload,
                "recalled_at": i.recalled_at.isoformat() if i.recalled_at else None,
            }
            for i in r.items
        ],
        "proposed_by": r.proposed_by.username,
        "proposed_at": r.proposed_at.isoformat(),
        "reviewed_by": r.reviewed_by.username if r.reviewed_by else None,
        "review_note": r.review_note,
        "request_id": r.request_id,
        "version": r.version,
    }


def request_view(q: InfoRequest) -> dict[str, Any]:
    return {
        "id": q.id,
        "partner": q.partner,
        "requesting_agency": q.requesting_agency,
        "subject": q.subject,
        "reference": q.reference,
        "purpose": q.purpose,
        "record_ids": q.record_ids,
        "status": q.status,
        "refusal_reason": q.refusal_reason,
        "version": q.version,
    }


@router.get("/records")
def list_records(
    request: Request,
    viewer: ViewerDep,
    schema: str | None = None,
    q: str | None = None,
    tlp: str | None = None,
    origin: Literal["local", "partner"] | None = None,
) -> list[dict[str, Any]]:
    node = node_of(request)
    with node.db.transaction() as session:  # a search writes its bulk-view audit entry
        found = records.search_records(
            session, viewer.user, node.trail, records.RecordFilter(schema=schema, text=q, tlp=tlp, origin=origin)
        )
        return [record_view(r) for r in found]


@router.post("/records", status_code=201)
def create_record(request: Request, viewer: ViewerDep, body: RecordInput) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        return record_view(records.create_record(session, viewer.user, node.trail, node.settings.country, body))


@router.get("/records/{record_id}")
def get_record(request: Request, viewer: ViewerDep, record_id: str) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        record = records.get_record(session, viewer.user, record_id)
        links = [
            {"property": p, "record": {"id": r.id, "schema": r.schema, "caption": r.caption}}
            for p, r in records.links(session, viewer.user, record)
        ]
        return record_view(record) | {"links": links}


@router.patch("/records/{record_id}")
def update_record(request: Request, viewer: ViewerDep, record_id: str, body: RecordPatch) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        return record_view(records.update_record(session, viewer.user, node.trail, record_id, body))


@router.post("/records/{record_id}/purge")
def purge_record(
    request: Request, viewer: ViewerDep, record_id: str, reason: Annotated[str, Body(embed=True)]
) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        return record_view(records.purge_record(session, viewer.user, node.trail, record_id, reason))


class ProposalBody(BaseModel):
    record_ids: list[str] = Field(min_length=1)
    recipient_node: str = Field(min_length=1)
    recipient_agency: str
    recipient_organisation: str = ""
    purpose: str
    legal_basis: str
    fields: list[str] = Field(default_factory=list)
    justification: str = ""
    need_to_know: bool = True
    right_to_know: bool = True
    recipient_law_enforcement: bool = True
    recipient_equivalent_rules: bool = True
    imminent_danger: bool = False
    foreign_initiated: bool = False
    authorisation_record: str | None = None
    data_subject_consent: bool = False
    judicial_use: bool = False
    onward_permission: bool = False
    request_id: int | None = None


class ReviewBody(BaseModel):
    approve: bool
    note: str = ""
    version: int


class RecallBody(BaseModel):
    reason: str
    record_ids: list[str] | None = None


@router.get("/releases")
def list_releases(request: Request, viewer: ViewerDep, status: str | None = None) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [
            release_view(r, releases.visible_record_ids(session, viewer.user, r))
            for r in releases.list_releases(session, viewer.user, status)
        ]


@router.post("/releases", status_code=201)
def propose_release(request: Request, viewer: ViewerDep, body: ProposalBody) -> dict[str, Any]:
    node = node_of(request)
    release = releases.propose(
        node.db, viewer.user, node.trail, node.framework, releases.ReleaseProposal(**body.model_dump())
    )
    with node.db.reading() as session:
        found = releases.get_release(session, viewer.user, release.id)
        return release_view(found, releases.visible_record_ids(session, viewer.user, found))


@router.get("/releases/{release_id}")
def get_release(request: Request, viewer: ViewerDep, release_id: int) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        found = releases.get_release(session, viewer.user, release_id)
        return release_view(found, releases.visible_record_ids(session, viewer.user, found))


@router.post("/releases/{release_id}/review")
def review_release(request: Request, viewer: ViewerDep, release_id: int, body: ReviewBody) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        release = releases.review(
            session,
            viewer.user,
            node.trail,
            node.framework,
            release_id,
            approve=body.approve,
            note=body.note,
            version=body.version,
        )
        return release_view(release, releases.visible_record_ids(session, viewer.user, release))


@router.post("/releases/{release_id}/recall", status_code=201)
def recall_release(request: Request, viewer: ViewerDep, release_id: int, body: RecallBody) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        recall = releases.recall(session, viewer.user, node.trail, release_id, body.reason, body.record_ids)
        return {"id": recall.id, "release_id": recall.release_id, "record_ids": recall.record_ids}


class RequestBody(BaseModel):
    partner: str
    requesting_agency: str
    subject: str
    purpose: str
    reference: str = ""
    legal_basis: str = ""
    record_ids: list[str] = Field(default_factory=list)


class RefuseBody(BaseModel):
    reason: str
    version: int


@router.get("/requests")
def list_requests(request: Request, viewer: ViewerDep, status: str | None = None) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [request_view(q) for q in releases.list_requests(session, viewer.user, status)]


@router.post("/requests", status_code=201)
def register_request(request: Request, viewer: ViewerDep, body: RequestBody) -> dict[str, Any]:
    node = node_of(request)
    require(viewer.user, Permission.PROPOSE_RELEASE)
    with node.db.transaction() as session:
        return request_view(releases.register_request(session, viewer.user, node.trail, **body.model_dump()))


@router.post("/requests/{request_id}/refuse")
def refuse_request(request: Request, viewer: ViewerDep, request_id: int, body: RefuseBody) -> dict[str, Any]:
    node = node_of(request)
    with node.db.transaction() as session:
        return request_view(
            releases.refuse_request(session, viewer.user, node.trail, request_id, body.reason, body.version)
        )


@router.get("/policies")
def policies(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    framework = node_of(request).framework
    return {
        "country": framework.country,
        "rules": [
            {
                "id": r.id,
                "effect": r.effect,
                "action": r.action,
                "kind": r.kind,
                "cite": r.cite,
                "reason": {"en": r.reason_en, "es": r.reason_es},
                "file": r.file,
                "redact": list(r.redact),
                "obligation": r.obligation,
            }
            for r in framework.rules
        ],
    }


@router.get("/audit")
def audit_log(
    request: Request, viewer: ViewerDep, after: int = 0, limit: int = 100, action: str | None = None
) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "details": e.details,
                "prev_hash": e.prev_hash,
                "hash": e.entry_hash,
                "key_id": e.key_id,
                "signature": e.signature,
            }
            for e in audit_views.entries(session, viewer.user, after=after, limit=limit, action=action)
        ]


@router.get("/audit/verify")
def audit_verify(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    node = node_of(request)
    require(viewer.user, Permission.READ_AUDIT)
    with node.db.reading() as session:
        result = node.trail.verify(session)
    gettext = viewer.gettext
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head": {"seq": result.head_seq, "hash": result.head_hash},
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message(gettext)} for p in result.problems],
    }


@router.get("/audit/disclosures")
def disclosures(
    request: Request, viewer: ViewerDep, us_persons: bool = False, record_id: str | None = None
) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        found = audit_views.disclosures(session, viewer.user, us_persons_only=us_persons, record_id=record_id)
    return [dataclasses.asdict(d) | {"at": d.at.isoformat()} for d in found]


@router.get("/records-retention")
def retention(request: Request, viewer: ViewerDep, within_days: int = 30) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [
            record_view(r) | {"retention_review": r.retention_review.isoformat()}
            for r in records.retention_queue(session, viewer.user, within_days)
        ]
