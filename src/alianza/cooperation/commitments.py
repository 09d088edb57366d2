"""Commitments and their timeline of follow-ups.

Every change to a commitment is written as a follow-up in the same transaction, so the timeline can never
disagree with the commitment. Overdue is derived from the due date at read time, never stored, so it cannot
go stale. Saves carry the version the editor saw; a stale version is a conflict, never a silent overwrite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.cooperation.models import Commitment, Evidence, FollowUp, Meeting
from alianza.cooperation.schemas import STATEMENT_DATE, CommitmentInput, CommitmentPatch, LinkInput
from alianza.errors import (
    ConflictError,
    NotFoundError,
    UnsupportedUploadError,
    UploadError,
    ValidationError,
    problem,
)
from alianza.store.db import utcnow
from alianza.vocab import vocabulary

DUE_SOON_DAYS = 30
LIST_FIELDS = frozenset({"areas", "supporting_agencies", "indicator_codes"})
CLOSED = frozenset({"completed", "dropped"})

# Evidence files: the extensions we accept, their content types, and the bytes they must start with.
ALLOWED_UPLOADS: dict[str, tuple[str, bytes | None]] = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".txt": ("text/plain", None),
    ".csv": ("text/csv", None),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
}

TRACKED_FIELDS = (
    "title_en",
    "title_es",
    "description_en",
    "description_es",
    "areas",
    "lead_agency",
    "supporting_agencies",
    "due_date",
    "status",
    "progress",
    "indicator_codes",
    "illustrative",
)


def effective_status(commitment: Commitment, today: dt.date | None = None) -> str:
    """The status to show: ``overdue`` when the due date passed and the commitment is still open."""
    today = today or dt.date.today()
    if commitment.status not in CLOSED and commitment.due_date < today:
        return "overdue"
    return commitment.status


def is_due_soon(commitment: Commitment, today: dt.date | None = None) -> bool:
    today = today or dt.date.today()
    return commitment.status not in CLOSED and today <= commitment.due_date <= today + dt.timedelta(DUE_SOON_DAYS)


_problem = problem


def _check_codes(
    problems: list[dict[str, Any]],
    session: Session,
    *,
    areas: list[str] | None = None,
    agencies: dict[str, list[str]] | None = None,
    indicators: list[str] | None = None,
) -> None:
    vocab = vocabulary()
    for code in areas or []:
        if code not in vocab.areas:
            problems.append(
                _problem(
                    "areas",
                    "Unknown area code '{code}'; use one of: {known}.",
                    code=code,
                    known=", ".join(vocab.areas),
                )
            )
    for field, codes in (agencies or {}).items():
        for code in codes:
            if code not in vocab.agencies:
                problems.append(
                    _problem(
                        field,
                        "Unknown agency code '{code}'; list them with 'alianza vocab agencies'.",
                        code=code,
                    )
                )
    if indicators:
        from alianza.cooperation.models import Indicator

        known = set(session.scalars(select(Indicator.code).where(Indicator.code.in_(indicators))))
        for code in indicators:
            if code not in known:
                problems.append(_problem("indicator_codes", "Unknown indicator '{code}'.", code=code))


NOT_SAVED = {
    "commitment": "The commitment was not saved: {count} problem(s) to fix.",
    "change": "The change was not saved: {count} problem(s) to fix.",
}


def _raise(problems: list[dict[str, Any]], what: str) -> None:
    if problems:
        raise ValidationError(NOT_SAVED[what], details=problems, count=len(problems))


def validate_new(session: Session, data: CommitmentInput) -> tuple[dt.date, Meeting | None]:
    """Check a new commitment against the vocabularies and the calendar; returns its origin date and meeting."""
    vocab = vocabulary()
    problems: list[dict[str, Any]] = []
    _check_codes(
        problems,
        session,
        areas=data.areas,
        agencies={"lead_agency": [data.lead_agency], "supporting_agencies": data.supporting_agencies},
        indicators=data.indicator_codes,
    )
    lead = vocab.agencies.get(data.lead_agency)
    if lead is not None and lead.country != data.country:
        problems.append(
            _problem(
                "lead_agency",
                "The lead agency {code} belongs to {other}, not to the responsible country {country}.",
                code=data.lead_agency,
                other=lead.country,
                country=data.country,
            )
        )
    status = vocab.statuses.get(data.status)
    if status is None or status.computed:
        problems.append(
            _problem(
                "status",
                "Status '{status}' cannot be set; use one of: {known}.",
                status=data.status,
                known=", ".join(s.code for s in vocab.settable_statuses()),
            )
        )
    meeting = None
    origin = data.origin_date or STATEMENT_DATE
    if data.origin_meeting_id is not None:
        meeting = session.get(Meeting, data.origin_meeting_id)
        if meeting is None:
            problems.append(_problem("origin_meeting_id", "No meeting with id {id}.", id=data.origin_meeting_id))
        else:
            origin = data.origin_date or meeting.date
    if data.due_date < origin:
        problems.append(
            _problem(
                "due_date",
                "The due date {due} is before the commitment's origin ({origin}); choose a later date.",
                due=data.due_date.isoformat(),
                origin=origin.isoformat(),
            )
        )
    _raise(problems, "commitment")
    return origin, meeting


def create_commitment(
    session: Session,
    actor: User,
    data: CommitmentInput,
    *,
    meeting_id: int | None = None,
    note: str = "",
) -> Commitment:
    require(actor, Permission.EDIT_COOPERATION)
    origin, meeting = validate_new(session, data)
    progress = 100 if data.status == "completed" and data.progress == 0 else data.progress
    commitment = Commitment(
        **data.model_dump(exclude={"origin_meeting_id", "origin_date", "progress"}),
        origin_meeting_id=meeting.id if meeting else None,
        origin_date=origin,
        progress=progress,
    )
    session.add(commitment)
    session.flush()
    session.add(
        FollowUp(
            commitment_id=commitment.id,
            author_id=actor.id,
            meeting_id=meeting_id,
            kind="created",
            changes={"status": [None, commitment.status], "progress": [None, commitment.progress]},
            note=note,
            illustrative=data.illustrative,
        )
    )
    session.flush()
    return commitment


def get_commitment(session: Session, commitment_id: int) -> Commitment:
    commitment = session.get(Commitment, commitment_id)
    if commitment is None:
        raise NotFoundError("No commitment with id {id}.", id=commitment_id)
    return commitment


def read_commitment(session: Session, actor: User, commitment_id: int) -> Commitment:
    require(actor, Permission.READ_COOPERATION)
    return get_commitment(session, commitment_id)


@dataclass(frozen=True)
class CommitmentFilter:
    area: str | None = None
    country: str | None = None
    status: str | None = None  # effective status, so 'overdue' filters too
    agency: str | None = None
    text: str | None = None


def list_commitments(
    session: Session, actor: User, flt: CommitmentFilter | None = None, today: dt.date | None = None
) -> list[Commitment]:
    require(actor, Permission.READ_COOPERATION)
    flt = flt or CommitmentFilter()
    query = select(Commitment).order_by(Commitment.due_date, Commitment.id)
    if flt.country:
        query = query.where(Commitment.country == flt.country)
    rows = list(session.scalars(query).unique())
    result = []
    needle = (flt.text or "").casefold()
    for c in rows:
        if flt.area and flt.area not in c.areas:
            continue
        if flt.agency and flt.agency != c.lead_agency and flt.agency not in c.supporting_agencies:
            continue
        if flt.status and effective_status(c, today) != flt.status:
            continue
        if needle and needle not in f"{c.title_en} {c.title_es} {c.description_en} {c.description_es}".casefold():
            continue
        result.append(c)
    return result


def snapshot(commitment: Commitment) -> dict[str, Any]:
    """The editable state of a commitment, JSON-ready (for conflicts and the API)."""
    out: dict[str, Any] = {}
    for field in (*TRACKED_FIELDS, "version"):
        value = getattr(commitment, field)
        out[field] = value.isoformat() if isinstance(value, dt.date) else value
    return out


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def update_commitment(
    session: Session,
    actor: User,
    commitment_id: int,
    patch: CommitmentPatch,
    *,
    meeting_id: int | None = None,
    kind: str = "updated",
    illustrative: bool = False,
) -> Commitment:
    """Apply a change and write it to the timeline; a stale ``version`` is a conflict showing both versions."""
    require(actor, Permission.EDIT_COOPERATION)
    commitment = get_commitment(session, commitment_id)
    changes_wanted = patch.changed_fields()
    if patch.version != commitment.version:
        raise ConflictError(
            "Someone else saved this commitment (now version {current}) after you opened version {yours}; "
            "review both versions and save again.",
            current=commitment.version,
            yours=patch.version,
            details={
                "current": snapshot(commitment),
                "yours": {k: _jsonable(v) for k, v in changes_wanted.items()} | {"version": patch.version},
            },
        )
    vocab = vocabulary()
    problems: list[dict[str, Any]] = []
    _check_codes(
        problems,
        session,
        areas=patch.areas,
        agencies={
            "lead_agency": [patch.lead_agency] if patch.lead_agency else [],
            "supporting_agencies": patch.supporting_agencies or [],
        },
        indicators=patch.indicator_codes,
    )
    lead = vocab.agencies.get(patch.lead_agency or "")
    if lead is not None and lead.country != commitment.country:
        problems.append(
            _problem("lead_agency", "The lead agency must belong to {country}.", country=commitment.country)
        )
    if patch.status is not None and patch.status != commitment.status:
        current = vocab.statuses[commitment.status]
        if patch.status not in current.next:
            allowed = ", ".join(current.next) or "none (the commitment is closed)"
            problems.append(
                _problem(
                    "status",
                    "A commitment cannot move from {old} to {new}; allowed: {allowed}.",
                    old=commitment.status,
                    new=patch.status,
                    allowed=allowed,
                )
            )
    if patch.due_date is not None and patch.due_date < commitment.origin_date:
        problems.append(
            _problem(
                "due_date",
                "The due date {due} is before the commitment's origin ({origin}); choose a later date.",
                due=patch.due_date.isoformat(),
                origin=commitment.origin_date.isoformat(),
            )
        )
    _raise(problems, "change")
    if patch.status == "completed" and patch.progress is None:
        changes_wanted["progress"] = 100
    changes: dict[str, list[Any]] = {}
    for field, new in changes_wanted.items():
        old = getattr(commitment, field)
        if field in LIST_FIELDS and set(old) == set(new):  # type: ignore[call-overload]
            continue  # the same codes in another order are not a change
        if old != new:
            changes[field] = [_jsonable(old), _jsonable(new)]
            setattr(commitment, field, new)
    if not changes and not patch.note:
        raise ValidationError("Nothing changed: edit a field or write a note.")
    commitment.updated_at = utcnow()
    session.add(
        FollowUp(
            commitment_id=commitment.id,
            author_id=actor.id,
            meeting_id=meeting_id,
            kind=kind if changes else "note",
            changes=changes,
            note=patch.note,
            illustrative=illustrative,
        )
    )
    try:
        session.flush()
    except StaleDataError as exc:  # a concurrent writer won the race between our read and our write
        raise ConflictError("Someone else saved this commitment at the same moment; reload it and save again.") from exc
    return commitment


def add_note(session: Session, actor: User, commitment_id: int, note: str) -> FollowUp:
    """A follow-up without a change: what happened, told by whoever knows (coordinators, analysts)."""
    require(actor, Permission.ADD_FOLLOWUP)
    if not note.strip():
        raise ValidationError("Write a note before saving the follow-up.")
    commitment = get_commitment(session, commitment_id)
    followup = FollowUp(commitment_id=commitment.id, author_id=actor.id, kind="note", note=note.strip())
    session.add(followup)  # the commitment row is untouched: a note must not make an open edit conflict
    session.flush()
    return followup


def add_link(session: Session, actor: User, commitment_id: int, link: LinkInput) -> Evidence:
    require(actor, Permission.ADD_FOLLOWUP)
    commitment = get_commitment(session, commitment_id)
    evidence = Evidence(
        commitment_id=commitment.id, kind="link", title=link.title, url=link.url, created_by_id=actor.id
    )
    session.add(evidence)
    session.add(
        FollowUp(
            commitment_id=commitment.id,
            author_id=actor.id,
            kind="evidence",
            changes={"evidence": [None, link.title]},
            note=link.url,
        )
    )
    session.flush()
    return evidence


def check_upload(filename: str, content_type: str | None, data: bytes, max_bytes: int) -> str:
    """Refuse files that are too large, of a type not allowed, or whose bytes contradict their name."""
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED_UPLOADS:
        raise UnsupportedUploadError(
            "Files of type '{suffix}' are not allowed; upload one of: {allowed}.",
            suffix=suffix or filename,
            allowed=", ".join(sorted(ALLOWED_UPLOADS)),
        )
    if len(data) > max_bytes:
        raise UploadError(
            "The file is {size} MiB; the limit is {limit} MiB. Upload a smaller file or a link instead.",
            size=round(len(data) / 2**20, 1),
            limit=round(max_bytes / 2**20, 1),
        )
    if not data:
        raise UnsupportedUploadError("The file is empty.")
    expected_type, magic = ALLOWED_UPLOADS[suffix]
    if magic is not None and not data.startswith(magic):
        raise UnsupportedUploadError(
            "The file's content is not a {suffix} file; check that you chose the right file.", suffix=suffix
        )
    if magic is None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsupportedUploadError("A {suffix} file must be UTF-8 text.", suffix=suffix) from None
    return expected_type


def add_file(
    session: Session,
    actor: User,
    commitment_id: int,
    *,
    filename: str,
    content_type: str | None,
    data: bytes,
    upload_dir: Path,
    max_bytes: int,
    title: str = "",
) -> Evidence:
    """Store an uploaded evidence file content-addressed, so a retried upload never duplicates bytes."""
    require(actor, Permission.ADD_FOLLOWUP)
    commitment = get_commitment(session, commitment_id)
    stored_type = check_upload(filename, content_type, data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    safe_name = Path(filename).name
    evidence = Evidence(
        commitment_id=commitment.id,
        kind="file",
        title=title or safe_name,
        filename=safe_name,
        content_type=stored_type,
        size=len(data),
        sha256=digest,
        created_by_id=actor.id,
    )
    session.add(evidence)
    session.add(
        FollowUp(
            commitment_id=commitment.id,
            author_id=actor.id,
            kind="evidence",
            changes={"evidence": [None, evidence.title]},
        )
    )
    session.flush()
    target = evidence_path(upload_dir, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return evidence


def evidence_path(upload_dir: Path, digest: str) -> Path:
    return upload_dir / digest[:2] / digest


def get_evidence(session: Session, actor: User, evidence_id: int) -> Evidence:
    require(actor, Permission.READ_COOPERATION)
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFoundError("No evidence with id {id}.", id=evidence_id)
    return evidence
