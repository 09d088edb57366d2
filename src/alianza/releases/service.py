"""Proposing, reviewing, delivering (via the outbox) and recalling releases; answering partner requests.

No record leaves without (1) a recorded policy decision and (2) the approval of a legal reviewer who is not
the proposer. Approval, redaction, the outbox message and the disclosure entries of the audit log are written
in one transaction, so a crash leaves either a pending release or a fully queued one, never half of each.
A denied proposal is not stored: only the decision is audited, and the proposer gets the reasons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, allowed, require
from alianza.audit.trail import AuditTrail
from alianza.errors import (
    AlianzaError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    problem,
)
from alianza.federation import outbox
from alianza.policy.decision import Decision
from alianza.policy.facts import RecordFacts, ReleaseFacts
from alianza.policy.frameworks import Framework
from alianza.policy.gate import decide_many
from alianza.records import service as records
from alianza.records.models import Record
from alianza.releases.models import InfoRequest, Recall, Release, ReleaseItem
from alianza.store.db import Database, utcnow
from alianza.vocab import vocabulary

MAX_RECORDS = 500


class PolicyDeniedError(AlianzaError):
    """The release gate denied the release; ``details`` lists the deciding rules with their reasons."""

    code = "policy_denied"
    http_status = 403


@dataclass(frozen=True)
class ReleaseProposal:
    record_ids: list[str]
    recipient_node: str
    recipient_agency: str
    purpose: str
    legal_basis: str
    fields: list[str] = field(default_factory=list)
    recipient_organisation: str = ""
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


CONTEXT_FIELDS = (
    "recipient_organisation",
    "need_to_know",
    "right_to_know",
    "recipient_law_enforcement",
    "recipient_equivalent_rules",
    "imminent_danger",
    "foreign_initiated",
    "authorisation_record",
    "data_subject_consent",
    "judicial_use",
    "onward_permission",
)


def record_facts(record: Record) -> RecordFacts:
    """The facts the gate decides on; RecordFacts checks the values itself."""
    values: dict[str, Any] = {
        "record_id": record.id,
        "schema": record.schema,
        "tlp": record.tlp,
        "handling": record.handling,
        "source_reliability": record.source_reliability,
        "info_accuracy": int(record.info_accuracy),
        "origin_country": record.origin_country,
        "origin_agency": record.origin_agency,
        "partner_originated": record.partner is not None,
        "originator_consent": record.originator_consent,
        "personal_data": record.personal_data,
        "us_person": record.us_person,
        "legal_basis": record.legal_basis,
        "purpose": record.purpose,
        "criminal_predicate": bool(record.criminal_predicate.strip()),
        "sensitive_categories": tuple(record.sensitive_categories),
        "sensitive_tied_to_crime": record.sensitive_tied_to_crime,
        "retention_review": record.retention_review,
    }
    return RecordFacts(**values)


def release_facts(
    recipient_country: str,
    recipient_agency: str,
    purpose: str,
    legal_basis: str,
    fields: list[str],
    context: dict[str, Any],
) -> ReleaseFacts:
    values: dict[str, Any] = {k: context.get(k, None if k == "authorisation_record" else False) for k in CONTEXT_FIELDS}
    values |= {
        "recipient_country": recipient_country,
        "recipient_agency": recipient_agency,
        "recipient_organisation": context.get("recipient_organisation") or recipient_agency,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "fields": tuple(fields),
    }
    return ReleaseFacts(**values)


def evaluate(
    session: Session, actor: User, framework: Framework, proposal: ReleaseProposal, today: dt.date | None = None
) -> tuple[list[Record], Decision]:
    """Check the proposal and ask the gate; nothing is written."""
    require(actor, Permission.PROPOSE_RELEASE)
    vocab = vocabulary()
    problems: list[dict[str, Any]] = []
    if not proposal.record_ids:
        problems.append(problem("record_ids", "Choose at least one record to release."))
    if len(proposal.record_ids) > MAX_RECORDS:
        problems.append(problem("record_ids", "Release at most {max} records at once.", max=MAX_RECORDS))
    agency = vocab.agencies.get(proposal.recipient_agency)
    if agency is None:
        problems.append(problem("recipient_agency", "Unknown agency '{code}'.", code=proposal.recipient_agency))
    if proposal.purpose not in vocab.markings["purposes"]:
        problems.append(problem("purpose", "Unknown purpose '{code}'.", code=proposal.purpose))
    if not proposal.recipient_node.strip():
        problems.append(problem("recipient_node", "Name the partner node that receives the release."))
    if proposal.request_id is not None:
        request = session.get(InfoRequest, proposal.request_id)
        if request is None or request.status != "open":
            problems.append(
                problem("request_id", "Request {id} does not exist or is no longer open.", id=proposal.request_id)
            )
    grounds = vocab.markings["release_grounds"]
    own = [code for code, g in grounds.items() if g.country == framework.country]
    if proposal.legal_basis not in own:
        problems.append(
            problem("legal_basis", "State the legal ground of the release; use one of: {known}.", known=", ".join(own))
        )
    found: list[Record] = []
    for record_id in dict.fromkeys(proposal.record_ids):
        try:
            record = records.get_record(session, actor, record_id)
        except NotFoundError:
            problems.append(problem("record_ids", "No record '{id}' that you may see.", id=record_id))
            continue
        if record.purged:
            problems.append(problem("record_ids", "Record '{id}' was purged.", id=record_id))
            continue
        found.append(record)
    if problems:
        raise ValidationError(
            "The release was not proposed: {count} problem(s) to fix.", details=problems, count=len(problems)
        )
    assert agency is not None
    facts = release_facts(
        agency.country,
        proposal.recipient_agency,
        proposal.purpose,
        proposal.legal_basis,
        proposal.fields,
        {k: getattr(proposal, k) for k in CONTEXT_FIELDS},
    )
    decision = decide_many(framework, [record_facts(r) for r in found], facts, today or dt.date.today())
    return found, decision


def propose(db: Database, actor: User, trail: AuditTrail, framework: Framework, proposal: ReleaseProposal) -> Release:
    """Ask the gate; a denial is audited and raised, anything else becomes a release pending review."""
    with db.transaction() as session:
        found, decision = evaluate(session, actor, framework, proposal)
        trail.append(
            session,
            actor,
            "policy.decision",
            "release",
            "proposed",
            {
                "outcome": decision.outcome,
                "rules": [r.id for r in decision.rules],
                "records": [r.id for r in found],
                "recipient": proposal.recipient_agency,
                "purpose": proposal.purpose,
            },
        )
        if decision.outcome != "deny":
            release = Release(
                recipient_node=proposal.recipient_node,
                recipient_country=vocabulary().agencies[proposal.recipient_agency].country,
                recipient_agency=proposal.recipient_agency,
                purpose=proposal.purpose,
                legal_basis=proposal.legal_basis,
                fields=list(proposal.fields),
                context={k: getattr(proposal, k) for k in CONTEXT_FIELDS},
                justification=proposal.justification,
                status="pending_review",
                outcome=decision.outcome,
                rules=decision.to_dict()["rules"],
                obligations=decision.to_dict()["obligations"],
                redactions=decision.to_dict()["redactions"],
                request_id=proposal.request_id,
                proposed_by_id=actor.id,
                items=[ReleaseItem(record_id=r.id) for r in found],
            )
            session.add(release)
            session.flush()
            trail.append(
                session,
                actor,
                "release.proposed",
                "release",
                release.id,
                {"outcome": decision.outcome, "records": [r.id for r in found]},
            )
            return release
    raise PolicyDeniedError(
        "The release gate denied this release: {reasons}",
        reasons="; ".join(f"[{r.id}] {r.reason_en}" for r in decision.rules),
        details=[
            {
                "rule": r.id,
                "message": r.reason_en,
                "reason_es": r.reason_es,
                "cite": r.cite,
                "records": list(r.record_ids),
            }
            for r in decision.rules
        ],
    )


def get_release(session: Session, actor: User, release_id: int) -> Release:
    require(actor, Permission.READ_RECORDS)
    release = session.get(Release, release_id)
    if release is None:
        raise NotFoundError("No release with id {id}.", id=release_id)
    return release


def list_releases(session: Session, actor: User, status: str | None = None) -> list[Release]:
    require(actor, Permission.READ_RECORDS)
    query = select(Release).order_by(Release.id.desc())
    if status:
        query = query.where(Release.status == status)
    return list(session.scalars(query))


def redact(record: Record, fields: list[str], redactions: list[str]) -> dict[str, Any]:
    """What leaves: the FtM entity limited to the chosen fields, minus what the rules redact, with markings."""
    entity = records.to_ftm(record)
    props = entity["properties"]
    keep = set(fields) if fields else set(props)
    entity["properties"] = {k: v for k, v in props.items() if k in keep and k not in set(redactions)}
    entity["alianza:redacted"] = sorted(set(props) - set(entity["properties"]))
    return entity


def review(
    session: Session,
    actor: User,
    trail: AuditTrail,
    framework: Framework,
    release_id: int,
    *,
    approve: bool,
    note: str,
    version: int,
    today: dt.date | None = None,
) -> Release:
    """Four eyes: a legal reviewer who did not propose it approves (and it is queued) or refuses it."""
    require(actor, Permission.REVIEW_RELEASE)
    release = get_release(session, actor, release_id)
    if release.proposed_by_id == actor.id:
        raise PermissionDeniedError("You proposed this release; another legal reviewer must decide on it.")
    if release.status != "pending_review":
        raise ValidationError("This release is {status}, not pending review.", status=release.status)
    if release.version != version:
        raise ConflictError("Another reviewer acted on this release first; reload it.")
    if not note.strip() and (not approve or release.outcome == "needs_approval"):
        raise ValidationError(
            "Write your legal finding: it is required to refuse, and to approve a release the rules hold for review."
        )
    release.reviewed_by_id = actor.id
    release.reviewed_at = utcnow()
    release.review_note = note.strip()
    if not approve:
        release.status = "refused"
        trail.append(session, actor, "release.refused", "release", release.id, {"note": release.review_note})
        _flush(session)
        return release
    # The law is applied again at approval: markings or policies may have changed since the proposal.
    current = [records.get_record(session, actor, item.record_id) for item in release.items]
    facts = release_facts(
        release.recipient_country,
        release.recipient_agency,
        release.purpose,
        release.legal_basis,
        release.fields,
        release.context,
    )
    decision = decide_many(framework, [record_facts(r) for r in current], facts, today or dt.date.today())
    trail.append(
        session,
        actor,
        "policy.decision",
        "release",
        release.id,
        {"outcome": decision.outcome, "rules": [r.id for r in decision.rules], "at": "approval"},
    )
    if decision.outcome == "deny":
        release.status = "refused"
        release.rules = decision.to_dict()["rules"]
        release.review_note = (release.review_note + "\n" if release.review_note else "") + "; ".join(
            f"[{r.id}] {r.reason_en}" for r in decision.rules
        )
        trail.append(session, actor, "release.refused", "release", release.id, {"by": "policy"})
        _flush(session)
        return release
    payload_items = []
    for item, record in zip(release.items, current, strict=True):
        item.payload = redact(record, release.fields, list(decision.redacted_fields_for(record.id)))
        payload_items.append(item.payload)
    release.redactions = decision.to_dict()["redactions"]
    release.obligations = decision.to_dict()["obligations"]
    release.status = "approved"
    outbox.enqueue(
        session,
        release.recipient_node,
        "release",
        release.id,
        {
            "release_id": release.id,
            "recipient_agency": release.recipient_agency,
            "purpose": release.purpose,
            "legal_basis": release.legal_basis,
            "entities": payload_items,
        },
    )
    trail.append(session, actor, "release.approved", "release", release.id, {"note": release.review_note})
    for record in current:
        trail.append(
            session,
            actor,
            "record.disclosed",
            "record",
            record.id,
            {
                "release": release.id,
                "recipient_node": release.recipient_node,
                "recipient_agency": release.recipient_agency,
                "purpose": release.purpose,
                "legal_basis": release.legal_basis,
                "us_person": record.us_person,
                "redacted": list(decision.redacted_fields_for(record.id)),
                "obligations": [o.kind for o in decision.obligations if not o.record_ids or record.id in o.record_ids],
            },
        )
    if release.request_id is not None:
        answer_request_with(session, actor, trail, release.request_id, release)
    _flush(session)
    return release


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConflictError("Another reviewer acted on this release at the same moment; reload it.") from exc


def recall(
    session: Session, actor: User, trail: AuditTrail, release_id: int, reason: str, record_ids: list[str] | None = None
) -> Recall:
    """Withdraw released records: the partner is told through the outbox and must remove or hide them."""
    if not (
        allowed(actor, Permission.REVIEW_RELEASE)
        or allowed(actor, Permission.MANAGE_USERS)
        or actor.id == _proposer(session, release_id)
    ):
        raise PermissionDeniedError("Only the proposer, a legal reviewer or an admin may recall a release.")
    if not reason.strip():
        raise ValidationError("Give the reason for the recall; the partner sees it.")
    release = get_release(session, actor, release_id)
    if release.status not in ("approved", "recalled"):
        raise ValidationError("Only approved releases can be recalled; this one is {status}.", status=release.status)
    open_items = [i for i in release.items if i.recalled_at is None and (not record_ids or i.record_id in record_ids)]
    if not open_items:
        raise ValidationError("Nothing left to recall in this release.")
    now = utcnow()
    for item in open_items:
        item.recalled_at = now
    ids = [i.record_id for i in open_items]
    if all(i.recalled_at is not None for i in release.items):
        release.status = "recalled"
    recall_row = Recall(release_id=release.id, record_ids=ids, reason=reason.strip(), recalled_by_id=actor.id)
    session.add(recall_row)
    session.flush()
    outbox.enqueue(
        session,
        release.recipient_node,
        "recall",
        recall_row.id,
        {"release_id": release.id, "record_ids": ids, "reason": recall_row.reason},
    )
    trail.append(session, actor, "release.recalled", "release", release.id, {"records": ids, "reason": reason})
    _flush(session)
    return recall_row


def _proposer(session: Session, release_id: int) -> int | None:
    return session.scalar(select(Release.proposed_by_id).where(Release.id == release_id))


def register_request(
    session: Session,
    actor: User | str,
    trail: AuditTrail,
    *,
    partner: str,
    requesting_agency: str,
    subject: str,
    purpose: str,
    reference: str = "",
    legal_basis: str = "",
    record_ids: list[str] | None = None,
) -> InfoRequest:
    """Record a partner's request (arriving through federation, or entered by a liaison officer).

    ``actor`` is a user when a liaison officer enters it (who needs the right to propose releases) or
    ``partner:<name>`` when it arrived in a signed envelope.
    """
    if isinstance(actor, User):
        require(actor, Permission.PROPOSE_RELEASE)
    problems = []
    if requesting_agency not in vocabulary().agencies:
        problems.append(problem("requesting_agency", "Unknown agency '{code}'.", code=requesting_agency))
    if purpose not in vocabulary().markings["purposes"]:
        problems.append(problem("purpose", "Unknown purpose '{code}'.", code=purpose))
    for record_id in record_ids or []:
        if session.get(Record, record_id) is None:
            problems.append(problem("record_ids", "No record '{id}' that you may see.", id=record_id))
    if problems:
        raise ValidationError(
            "The request was not registered: {count} problem(s).", details=problems, count=len(problems)
        )
    if not subject.strip():
        raise ValidationError("Say what the partner asks about.")
    request = InfoRequest(
        partner=partner,
        requesting_agency=requesting_agency,
        subject=subject.strip(),
        purpose=purpose,
        reference=reference,
        legal_basis=legal_basis,
        record_ids=record_ids or [],
    )
    session.add(request)
    session.flush()
    trail.append(
        session,
        actor,
        "request.received",
        "request",
        request.id,
        {"partner": partner, "agency": requesting_agency, "reference": reference},
    )
    return request


def list_requests(session: Session, actor: User, status: str | None = None) -> list[InfoRequest]:
    require(actor, Permission.READ_RECORDS)
    query = select(InfoRequest).order_by(InfoRequest.id.desc())
    if status:
        query = query.where(InfoRequest.status == status)
    return list(session.scalars(query))


def get_request(session: Session, actor: User, request_id: int) -> InfoRequest:
    require(actor, Permission.READ_RECORDS)
    request = session.get(InfoRequest, request_id)
    if request is None:
        raise NotFoundError("No request with id {id}.", id=request_id)
    return request


def refuse_request(
    session: Session, actor: User, trail: AuditTrail, request_id: int, reason: str, version: int
) -> InfoRequest:
    """A reasoned refusal, sent back to the partner through the outbox."""
    require(actor, Permission.REVIEW_RELEASE)
    request = get_request(session, actor, request_id)
    if request.status != "open":
        raise ValidationError("This request is already {status}.", status=request.status)
    if request.version != version:
        raise ConflictError("Someone acted on this request first; reload it.")
    if not reason.strip():
        raise ValidationError("Give the reason for the refusal; the partner sees it.")
    request.status = "refused"
    request.refusal_reason = reason.strip()
    request.answered_at = utcnow()
    request.answered_by_id = actor.id
    outbox.enqueue(
        session,
        request.partner,
        "response",
        request.id,
        {"request_reference": request.reference, "answer": "refused", "reason": request.refusal_reason},
    )
    trail.append(session, actor, "request.refused", "request", request.id, {"reason": request.refusal_reason})
    session.flush()
    return request


def answer_request_with(session: Session, actor: User, trail: AuditTrail, request_id: int, release: Release) -> None:
    """Link an approved release to the request it answers."""
    request = get_request(session, actor, request_id)
    request.status = "answered"
    request.answered_at = utcnow()
    request.answered_by_id = actor.id
    trail.append(session, actor, "request.answered", "request", request.id, {"release": release.id})


def visible_record_ids(session: Session, actor: User, release: Release) -> set[str]:
    """The records of a release this actor may see; the others are shown by id only, never by content."""
    visible = set()
    for item in release.items:
        record = session.get(Record, item.record_id)
        if record is not None and records.can_see(actor, record):
            visible.add(item.record_id)
    return visible
