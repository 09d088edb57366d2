"""Creating, reading, searching and purging records, with the node's ingest rules and the audit trail.

Need-to-know inside the node follows the record's TLP: CLEAR, GREEN and AMBER records are visible to every
analyst of the node; AMBER+STRICT and RED only to the originating agency's users (and to legal reviewers and
auditors, who must see what they review). Reads of many records at once are audited as bulk views.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, allowed, require
from alianza.audit.trail import AuditTrail
from alianza.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError, problem
from alianza.records.ftm import KINDS, model
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput, RecordPatch
from alianza.store.db import utcnow
from alianza.vocab import vocabulary

RETENTION_YEARS = 5
RESTRICTED_TLP = frozenset({"AMBER+STRICT", "RED"})
PERSONAL_SCHEMATA = frozenset({"Person", "Identification", "BankAccount", "Address"})
# FtM properties that hold political, religious or social information (28 CFR 23.20(b)).
SENSITIVE_PROPERTIES = {"political": "political", "religion": "religious", "ethnicity": "social"}


_problem = problem


def _as_list(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def clean_properties(
    session: Session, schema_name: str, properties: dict[str, list[str] | str], problems: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Validate properties against the FtM schema; values are cleaned by their FtM type, bad ones reported."""
    if schema_name not in KINDS:
        problems.append(
            _problem(
                "schema", "Unknown record kind '{kind}'; use one of: {known}.", kind=schema_name, known=", ".join(KINDS)
            )
        )
        return {}
    schema = model().get(schema_name)
    assert schema is not None
    entity = model().make_entity(schema)
    for name, raw in properties.items():
        prop = schema.get(name)
        if prop is None:
            problems.append(
                _problem(f"properties.{name}", "{kind} has no property '{name}'.", kind=schema_name, name=name)
            )
            continue
        for value in _as_list(raw):
            if not str(value).strip():
                continue
            cleaned = prop.type.clean(value, proxy=entity)
            if cleaned is None:
                problems.append(
                    _problem(
                        f"properties.{name}",
                        "'{value}' is not a valid {type} for {name}.",
                        value=value,
                        type=prop.type.name,
                        name=name,
                    )
                )
                continue
            if prop.type.name == "entity" and session.get(Record, cleaned) is None:
                problems.append(_problem(f"properties.{name}", "No record with id '{id}' to link to.", id=cleaned))
                continue
            entity.add(name, cleaned, cleaned=True)
    for required in schema.required:
        if not entity.get(required):
            problems.append(
                _problem(f"properties.{required}", "{kind} needs '{name}'.", kind=schema_name, name=required)
            )
    return {k: list(v) for k, v in entity.properties.items()}


def _check_markings(
    markings: Markings, country: str, properties: dict[str, list[str]], problems: list[dict[str, Any]]
) -> list[str]:
    """Ingest rules of the node's framework; returns the sensitive categories found."""
    vocab = vocabulary()
    agency = vocab.agencies.get(markings.origin_agency)
    if agency is None:
        problems.append(
            _problem("markings.origin_agency", "Unknown agency code '{code}'.", code=markings.origin_agency)
        )
    elif agency.country != country:
        problems.append(
            _problem(
                "markings.origin_agency", "A record created here originates from a {country} agency.", country=country
            )
        )
    basis = vocab.markings["legal_bases"].get(markings.legal_basis)
    if basis is None:
        known = ", ".join(code for code, b in vocab.markings["legal_bases"].items() if b.country == country)
        problems.append(
            _problem("markings.legal_basis", "State the legal basis of collection; use one of: {known}.", known=known)
        )
    elif basis.country != country:
        problems.append(_problem("markings.legal_basis", "The legal basis must be a {country} law.", country=country))
    if markings.purpose not in vocab.markings["purposes"]:
        known = ", ".join(vocab.markings["purposes"])
        problems.append(
            _problem(
                "markings.purpose", "Unknown purpose '{code}'; use one of: {known}.", code=markings.purpose, known=known
            )
        )
    sensitive: set[str] = set(markings.sensitive_categories)
    sensitive |= {cat for prop, cat in SENSITIVE_PROPERTIES.items() if properties.get(prop)}
    if country == "US":
        if not markings.criminal_predicate.strip():
            problems.append(
                _problem(
                    "markings.criminal_predicate",
                    "28 CFR 23.20(a): state the reasonable suspicion of criminal activity that justifies this record.",
                )
            )
        if sensitive and not markings.sensitive_tied_to_crime:
            problems.append(
                _problem(
                    "markings.sensitive_categories",
                    "28 CFR 23.20(b): political, religious or social information may be kept only when it relates "
                    "directly to criminal conduct; remove it or state that it does.",
                )
            )
        limit = dt.date.today().replace(year=dt.date.today().year + RETENTION_YEARS)
        if markings.retention_review is not None and markings.retention_review > limit:
            problems.append(_problem("markings.retention_review", "28 CFR 23.20(h): review within five years at most."))
    return sorted(sensitive)


def _default_review() -> dt.date:
    today = dt.date.today()
    try:
        return today.replace(year=today.year + RETENTION_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year + RETENTION_YEARS, day=28)


def _caption(schema_name: str, properties: dict[str, list[str]]) -> str:
    entity = model().make_entity(schema_name)
    for k, v in properties.items():
        entity.add(k, v, cleaned=True)
    return str(entity.caption)[:500]


def _apply_markings(record: Record, markings: Markings, sensitive: list[str]) -> None:
    record.origin_agency = markings.origin_agency
    record.tlp = markings.tlp
    record.handling = markings.handling
    record.source_reliability = markings.source_reliability
    record.info_accuracy = markings.info_accuracy
    record.legal_basis = markings.legal_basis
    record.purpose = markings.purpose
    record.criminal_predicate = markings.criminal_predicate
    record.sensitive_categories = sensitive
    record.sensitive_tied_to_crime = markings.sensitive_tied_to_crime
    record.personal_data = (
        markings.personal_data if markings.personal_data is not None else record.schema in PERSONAL_SCHEMATA
    )
    record.us_person = markings.us_person
    record.retention_review = markings.retention_review or _default_review()


def _raise(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ValidationError(
            "The record was not saved: {count} problem(s) to fix.", details=problems, count=len(problems)
        )


def create_record(session: Session, actor: User, trail: AuditTrail, country: str, data: RecordInput) -> Record:
    require(actor, Permission.EDIT_RECORDS)
    problems: list[dict[str, Any]] = []
    properties = clean_properties(session, data.schema_, data.properties, problems)
    sensitive = _check_markings(data.markings, country, properties, problems)
    record_id = data.id or uuid.uuid4().hex
    if data.id and session.get(Record, data.id) is not None:
        problems.append(_problem("id", "A record with id '{id}' exists.", id=data.id))
    _raise(problems)
    record = Record(
        id=record_id,
        schema=data.schema_,
        caption=_caption(data.schema_, properties),
        properties=properties,
        origin_country=country,
        created_by_id=actor.id,
    )
    _apply_markings(record, data.markings, sensitive)
    session.add(record)
    session.flush()
    trail.append(session, actor, "record.created", "record", record.id, {"schema": record.schema, "tlp": record.tlp})
    return record


def can_see(actor: User, record: Record) -> bool:
    if not allowed(actor, Permission.READ_RECORDS):
        return False
    if record.tlp not in RESTRICTED_TLP or actor.role in ("legal_reviewer", "auditor", "admin"):
        return True
    return actor.agency == record.origin_agency


def get_record(session: Session, actor: User, record_id: str) -> Record:
    require(actor, Permission.READ_RECORDS)
    record = session.get(Record, record_id)
    if record is None or not can_see(actor, record):
        raise NotFoundError("No record with id '{id}' that you may see.", id=record_id)
    return record


def update_record(session: Session, actor: User, trail: AuditTrail, record_id: str, patch: RecordPatch) -> Record:
    require(actor, Permission.EDIT_RECORDS)
    record = get_record(session, actor, record_id)
    if record.read_only:
        raise PermissionDeniedError(
            "This record came from the partner ({partner}); its content and markings are the partner's and read-only.",
            partner=record.partner,
        )
    if record.purged:
        raise ValidationError("This record was purged; it cannot be edited.")
    if patch.version != record.version:
        raise ConflictError(
            "Someone else saved this record (now version {current}) after you opened version {yours}.",
            current=record.version,
            yours=patch.version,
            details={"current": {"version": record.version, "properties": record.properties}},
        )
    problems: list[dict[str, Any]] = []
    properties = (
        clean_properties(session, record.schema, patch.properties, problems)
        if patch.properties is not None
        else record.properties
    )
    markings = patch.markings or markings_of(record)
    sensitive = _check_markings(markings, record.origin_country, properties, problems)
    _raise(problems)
    changed = sorted(
        k for k in set(properties) | set(record.properties) if properties.get(k) != record.properties.get(k)
    )
    record.properties = properties
    record.caption = _caption(record.schema, properties)
    _apply_markings(record, markings, sensitive)
    record.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConflictError("Someone else saved this record at the same moment; reload it and save again.") from exc
    trail.append(session, actor, "record.updated", "record", record.id, {"properties": changed})
    return record


def markings_of(record: Record) -> Markings:
    return Markings(
        origin_agency=record.origin_agency,
        tlp=record.tlp,  # type: ignore[arg-type]
        handling=record.handling,  # type: ignore[arg-type]
        source_reliability=record.source_reliability,  # type: ignore[arg-type]
        info_accuracy=record.info_accuracy,  # type: ignore[arg-type]
        legal_basis=record.legal_basis,
        purpose=record.purpose,
        criminal_predicate=record.criminal_predicate,
        sensitive_categories=record.sensitive_categories,  # type: ignore[arg-type]
        sensitive_tied_to_crime=record.sensitive_tied_to_crime,
        personal_data=record.personal_data,
        us_person=record.us_person,
        retention_review=record.retention_review,
    )


@dataclass(frozen=True)
class RecordFilter:
    schema: str | None = None
    text: str | None = None
    tlp: str | None = None
    origin: str | None = None  # "local" | "partner"
    agency: str | None = None
    include_purged: bool = False


def search_records(
    session: Session, actor: User, trail: AuditTrail, flt: RecordFilter | None = None, limit: int = 200
) -> list[Record]:
    """Search what the actor may see; the search itself is audited as a bulk view."""
    require(actor, Permission.READ_RECORDS)
    flt = flt or RecordFilter()
    query = select(Record).order_by(Record.updated_at.desc())
    if flt.schema:
        query = query.where(Record.schema == flt.schema)
    if flt.tlp:
        query = query.where(Record.tlp == flt.tlp)
    if flt.agency:
        query = query.where(Record.origin_agency == flt.agency)
    if flt.origin == "local":
        query = query.where(Record.partner.is_(None))
    elif flt.origin == "partner":
        query = query.where(Record.partner.is_not(None))
    if not flt.include_purged:
        query = query.where(Record.purged_at.is_(None))
    if flt.text:
        escaped = flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Record.caption.ilike(f"%{escaped}%", escape="\\"), Record.id == flt.text))
    rows = [r for r in session.scalars(query.limit(limit * 2)) if can_see(actor, r)][:limit]
    trail.append(
        session,
        actor,
        "record.viewed_bulk",
        "record",
        "*",
        {"count": len(rows), "filter": {k: v for k, v in flt.__dict__.items() if v}},
    )
    return rows


def links(session: Session, actor: User, record: Record) -> list[tuple[str, Record]]:
    """Records that point at this one (ownership, membership, payments, cases) and those it points at."""
    found: list[tuple[str, Record]] = []
    schema = model().get(record.schema)
    assert schema is not None
    for name, values in record.properties.items():
        prop = schema.get(name)
        if prop is not None and prop.type.name == "entity":
            for value in values:
                target = session.get(Record, value)
                if target is not None and can_see(actor, target):
                    found.append((name, target))
    candidates = session.scalars(
        select(Record).where(
            Record.schema.in_(("Ownership", "Membership", "Payment", "Case", "Identification", "Firearm", "Vehicle"))
        )
    )
    for other in candidates:
        if other.id == record.id or not can_see(actor, other):
            continue
        for name, values in other.properties.items():
            if record.id in values:
                found.append((f"~{name}", other))
    return found


def purge_record(session: Session, actor: User, trail: AuditTrail, record_id: str, reason: str) -> Record:
    """Delete the content of a record whose retention ended; the audit keeps that it existed and why it went."""
    require(actor, Permission.PURGE_RECORDS)
    if not reason.strip():
        raise ValidationError("Give the reason for the purge (e.g. the retention review found it no longer valid).")
    record = get_record(session, actor, record_id)
    if record.purged:
        raise ValidationError("This record was already purged.")
    schema = record.schema
    record.properties = {}
    record.caption = "—"
    record.criminal_predicate = ""
    record.purged_at = utcnow()
    session.flush()
    trail.append(session, actor, "record.purged", "record", record.id, {"schema": schema, "reason": reason})
    return record


def retention_queue(session: Session, actor: User, within_days: int = 30) -> list[Record]:
    """Records whose review date has come (or comes within ``within_days``), oldest first."""
    require(actor, Permission.READ_RECORDS)
    horizon = dt.date.today() + dt.timedelta(days=within_days)
    query = (
        select(Record)
        .where(Record.retention_review <= horizon, Record.purged_at.is_(None), Record.partner.is_(None))
        .order_by(Record.retention_review)
    )
    return list(session.scalars(query))


def to_ftm(record: Record) -> dict[str, Any]:
    """The record as an FtM entity (markings travel in the ``alianza:markings`` context, not as properties)."""
    return {
        "id": record.id,
        "schema": record.schema,
        "properties": record.properties,
        "alianza:markings": markings_of(record).model_dump(mode="json")
        | {"origin_country": record.origin_country, "partner": record.partner},
    }
