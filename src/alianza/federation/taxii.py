"""TAXII 2.1, the domain half: which STIX objects a client may see, and the filters and paging of the spec.

The web half (``web/api/taxii.py``) only speaks HTTP; everything that decides what leaves is here.

What a client sees. A TAXII client is a user of this node, authenticated by one of its API tokens. It sees
exactly what the node's policy released to the client's agency and nothing else: the entities of approved
releases whose ``recipient_agency`` is the user's agency, minus recalled items, minus records purged here since
(their content is gone from this node, so it is not published any more), each *as it was sent*
(``ReleaseItem.payload``, i.e. after the release gate's field selection and redaction) — never the record as it
stands today. A user of any other agency (our own analysts included) sees an empty collection. The role must
allow reading records (``READ_RECORDS``): a coordinator's account of a partner agency follows commitments, not
intelligence, so its collection says ``can_read: false`` and its object requests are refused.

One collection per node (a fixed id, the same for everyone): its content depends on who asks, which is what
TAXII clients expect from access-controlled collections and spares partners from discovering per-agency ids.
It is read-only (``can_write: false``); nothing is ever added through TAXII, so there are no status resources.

STIX. Each released entity becomes the STIX 2.1 object ``records.interchange.stix.export_stix`` makes of it,
from a transient ``Record`` rebuilt from the payload: the export reads markings and properties, and giving it
the payload (not the stored record) is what guarantees that a redacted field never reappears, the caption
included (it is recomputed from the redacted properties). Ids are that export's UUIDv5 of the record id, so
repeated polls and re-releases give the same object ids. Versions: ``created`` is the record's creation time,
``modified`` the approval time of the release that carried it, so a record released again (say with more
fields) is a new version of the same object and ``match[version]=last`` (the default) gives the newest visible
one. The node identity, the Alianza extension definition and its author, and the TLP 2.0 marking definitions
are served with the records that reference them (only the markings actually used).

``date_added`` is the approval time of the release (the moment the node's policy let the object go to that
agency); for the shared objects above it is the earliest ``date_added`` of the records that reference them.
Objects are ordered by (date_added, id, version). ``next`` is a stateless key of the last object returned
(keyset paging), so a page boundary survives recalls and new releases between two requests; a malformed token
is refused with 400. An edge (ownership, membership, payment, identification) whose other end is not visible
to the client cannot be expressed in STIX without a dangling reference, so it is left out, not half-served.

Every request that returns released records is written to the audit log (``taxii.served``, with the record
ids), like any bulk read of records; polls that return nothing new are not, so an idle client polling every
minute does not flood the log.

The visible set is computed per request from the release tables; that is linear in what the agency has been
released and cheap next to the HTTP round trip for the volumes a bilateral mechanism produces. If that ever
changes, cache the exported objects per (agency, last approval or recall time).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, allowed, require
from alianza.audit.trail import AuditTrail
from alianza.errors import NotFoundError, ValidationError
from alianza.records.ftm import model
from alianza.records.interchange.stix import export_stix
from alianza.records.models import Record
from alianza.releases.models import Release, ReleaseItem

# Fixed for all nodes and all time: clients store it.
COLLECTION_ID = "6b1c8a54-3f0e-4f6e-9d3c-2a7b5e1f9c40"
MEDIA_TYPE_TAXII = "application/taxii+json;version=2.1"
MEDIA_TYPE_STIX = "application/stix+json;version=2.1"
SPEC_VERSION = "2.1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

BAD_TIMESTAMP = "'{value}' is not a timestamp; use RFC 3339 in UTC, e.g. 2026-01-31T12:00:00.000000Z."
BAD_LIMIT = "The limit must be a whole number from 1 to {max}."
BAD_NEXT = "The next token is not one this server issued; start again without it."
BAD_VERSION = "'{value}' is not a version filter; use last, first, all or a timestamp."
NO_OBJECT = "No object {id} in this collection for you."
NO_COLLECTION = "No collection {id} on this server."
NO_STATUS = "No status {id}: this server is read-only, so it never has any."

_MICRO = re.compile(r"\.(\d+)")


# ------------------------------------------------------------------------------------------------ timestamps


def timestamp(value: dt.datetime) -> str:
    """TAXII timestamps: UTC with microseconds, so ``added_after`` of the last one seen never skips a neighbour."""
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> dt.datetime:
    """RFC 3339 to naive UTC (how the store keeps times); fractions beyond microseconds are cut, not rounded."""
    text = value.strip()
    text = _MICRO.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(BAD_TIMESTAMP, value=value) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


# ------------------------------------------------------------------------------------------------ what is seen


@dataclass(frozen=True)
class Served:
    """One version of one STIX object as the collection holds it for one client."""

    obj: dict[str, Any]
    date_added: dt.datetime
    record_id: str | None = None  # None for the shared objects: node identity, extension, markings

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    @property
    def type(self) -> str:
        return str(self.obj["type"])

    @property
    def version(self) -> str:
        return str(self.obj.get("modified") or self.obj["created"])

    @property
    def version_time(self) -> dt.datetime:
        return parse_timestamp(self.version)

    @property
    def spec_version(self) -> str:
        return str(self.obj.get("spec_version", SPEC_VERSION))

    @property
    def key(self) -> tuple[dt.datetime, str, dt.datetime]:
        return (self.date_added, self.id, self.version_time)

    def manifest(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "date_added": timestamp(self.date_added),
            "version": self.version,
            "media_type": MEDIA_TYPE_STIX,
        }


def can_read(user: User) -> bool:
    return allowed(user, Permission.READ_RECORDS)


@dataclass(frozen=True)
class _Item:
    payload: dict[str, Any]
    approved_at: dt.datetime
    created_at: dt.datetime


def _released_items(session: Session, agency: str) -> list[_Item]:
    rows = session.execute(
        select(ReleaseItem.payload, Release.reviewed_at, Record.created_at)
        .join(Release, Release.id == ReleaseItem.release_id)
        .join(Record, Record.id == ReleaseItem.record_id)
        .where(
            Release.recipient_agency == agency,
            Release.status == "approved",
            Release.reviewed_at.is_not(None),
            ReleaseItem.recalled_at.is_(None),
            ReleaseItem.payload.is_not(None),
            Record.purged_at.is_(None),
        )
        .order_by(Release.reviewed_at, Release.id, ReleaseItem.id)
    )
    return [_Item(payload, approved, created) for payload, approved, created in rows if approved is not None]


def _caption(schema: str, properties: dict[str, list[str]]) -> str:
    """The caption of what was sent: a redacted name must not come back through the STIX ``name``."""
    entity = model().make_entity(schema)
    for name, values in properties.items():
        entity.add(name, values, cleaned=True, quiet=True)
    return str(entity.caption)[:500]


def _as_record(item: _Item) -> Record:
    """A transient (never added to a session) record holding exactly the released payload."""
    payload = item.payload
    marks: dict[str, Any] = dict(payload.get("alianza:markings") or {})
    properties: dict[str, list[str]] = {k: list(v) for k, v in (payload.get("properties") or {}).items()}
    review = marks.get("retention_review")
    return Record(
        id=payload["id"],
        schema=payload["schema"],
        caption=_caption(payload["schema"], properties),
        properties=properties,
        origin_country=marks.get("origin_country", ""),
        origin_agency=marks.get("origin_agency", ""),
        tlp=marks.get("tlp", "AMBER"),
        handling=marks.get("handling", "H0"),
        source_reliability=marks.get("source_reliability", "X"),
        info_accuracy=str(marks.get("info_accuracy", "4")),
        legal_basis=marks.get("legal_basis", ""),
        purpose=marks.get("purpose", ""),
        criminal_predicate=marks.get("criminal_predicate", ""),
        sensitive_categories=list(marks.get("sensitive_categories") or []),
        sensitive_tied_to_crime=bool(marks.get("sensitive_tied_to_crime")),
        personal_data=bool(marks.get("personal_data")),
        us_person=bool(marks.get("us_person")),
        retention_review=dt.date.fromisoformat(review) if isinstance(review, str) else review,
        partner=marks.get("partner"),
        created_at=item.created_at,
        updated_at=max(item.created_at, item.approved_at),
        purged_at=None,
    )


def _export(records: list[Record], identity_name: str, node_country: str) -> list[dict[str, Any]]:
    """Export, leaving out the edges whose other end this client cannot see (and what then loses its end)."""
    while True:
        try:
            objects: list[dict[str, Any]] = export_stix(records, identity_name, node_country)["objects"]
            return objects
        except ValidationError as exc:
            dangling = {d.get("object") for d in exc.details or [] if isinstance(d, dict)}
            kept = [r for r in records if r.id not in dangling]
            if len(kept) == len(records):
                raise
            records = kept


def _refs(obj: dict[str, Any]) -> set[str]:
    refs = set(obj.get("object_marking_refs") or [])
    if isinstance(obj.get("created_by_ref"), str):
        refs.add(obj["created_by_ref"])
    refs.update(k for k in (obj.get("extensions") or {}) if k.startswith("extension-definition--"))
    return refs


def visible(session: Session, user: User, *, identity_name: str, node_country: str) -> list[Served]:
    """Every version of every object the user's agency was released, ordered by (date_added, id, version)."""
    require(user, Permission.READ_RECORDS)
    items = _released_items(session, user.agency)
    if not items:
        return []
    by_version: dict[tuple[str, dt.datetime], _Item] = {}
    records = []
    for item in items:
        record = _as_record(item)
        records.append(record)
        # A STIX version is (id, modified) and the export keeps milliseconds: a later duplicate wins.
        by_version[(record.id, record.updated_at.replace(microsecond=record.updated_at.microsecond // 1000 * 1000))] = (
            item
        )
    served: list[Served] = []
    shared: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for obj in _export(records, identity_name, node_country):
        record_id = obj.get("x_alianza_id")
        if not isinstance(record_id, str):
            shared[obj["id"]] = obj
            continue
        found = by_version.get((record_id, parse_timestamp(str(obj["modified"]))))
        if found is None:  # the export changed how it stamps versions; fail loudly rather than mislabel
            raise RuntimeError(f"STIX object for record {record_id} has an unexpected version {obj['modified']}")
        if (obj["id"], obj["modified"]) in seen:
            continue
        seen.add((obj["id"], obj["modified"]))
        served.append(Served(obj, found.approved_at, record_id))
    # Shared objects arrive with the first object that needs them (directly, or through another shared one).
    added: dict[str, dt.datetime] = {}
    pending = [(ref, s.date_added) for s in served for ref in _refs(s.obj)]
    while pending:
        ref, when = pending.pop()
        if ref in shared and (ref not in added or when < added[ref]):
            added[ref] = when
            pending += [(inner, when) for inner in _refs(shared[ref])]
    served += [Served(shared[ref], when) for ref, when in added.items()]
    served.sort(key=lambda s: s.key)
    return served


# ------------------------------------------------------------------------------------------------ filters


@dataclass(frozen=True)
class Filters:
    """The TAXII 2.1 filters of a request (section 3.4), already checked."""

    added_after: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT
    next: tuple[dt.datetime, str, dt.datetime] | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: frozenset[str] = frozenset({"last"})
    version_times: frozenset[dt.datetime] = frozenset()
    spec_versions: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        *,
        added_after: str | None = None,
        limit: str | None = None,
        next_token: str | None = None,
        match: dict[str, str] | None = None,
        default_versions: str = "last",
    ) -> Filters:
        match = match or {}
        after = parse_timestamp(added_after) if added_after else None
        count = DEFAULT_LIMIT
        if limit is not None and limit != "":
            if not limit.strip().isdigit() or int(limit) < 1:
                raise ValidationError(BAD_LIMIT, max=MAX_LIMIT)
            count = min(int(limit), MAX_LIMIT)  # TAXII: a larger limit gets the server's maximum
        words, times = _versions(match.get("version") or default_versions)
        return cls(
            added_after=after,
            limit=count,
            next=read_next(next_token) if next_token else None,
            ids=_split(match.get("id")),
            types=_split(match.get("type")),
            versions=words,
            version_times=times,
            spec_versions=_split(match.get("spec_version")),
        )


def _split(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


def _versions(value: str) -> tuple[frozenset[str], frozenset[dt.datetime]]:
    words: set[str] = set()
    times: set[dt.datetime] = set()
    for part in _split(value):
        if part in ("last", "first", "all"):
            words.add(part)
            continue
        try:
            times.add(parse_timestamp(part))
        except ValidationError:
            raise ValidationError(BAD_VERSION, value=part) from None
    return frozenset(words), frozenset(times)


def make_next(entry: Served) -> str:
    """Opaque to the client, but only a position: it grants nothing, so it needs no signature."""
    raw = json.dumps([timestamp(entry.date_added), entry.id, entry.version]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_next(token: str) -> tuple[dt.datetime, str, dt.datetime]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        added, ident, version = json.loads(raw)
        return parse_timestamp(str(added)), str(ident), parse_timestamp(str(version))
    except (ValueError, TypeError, binascii.Error, ValidationError):
        raise ValidationError(BAD_NEXT) from None


def _select_versions(entries: Sequence[Served], flt: Filters) -> list[Served]:
    if "all" in flt.versions:
        return list(entries)
    by_id: dict[str, list[Served]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    keep: set[int] = set()
    for versions in by_id.values():
        ordered = sorted(versions, key=lambda e: e.version_time)
        if "last" in flt.versions:
            keep.add(id(ordered[-1]))
        if "first" in flt.versions:
            keep.add(id(ordered[0]))
        keep.update(id(e) for e in ordered if e.version_time in flt.version_times)
    return [e for e in entries if id(e) in keep]


def matching(entries: Iterable[Served], flt: Filters) -> list[Served]:
    """The entries the match filters and added_after let through, still in collection order."""
    chosen = [
        e
        for e in entries
        if (not flt.ids or e.id in flt.ids)
        and (not flt.types or e.type in flt.types)
        and (not flt.spec_versions or e.spec_version in flt.spec_versions)
    ]
    chosen = _select_versions(chosen, flt)
    if flt.added_after is not None:
        after = flt.added_after
        chosen = [e for e in chosen if e.date_added > after]
    return chosen


@dataclass
class Page:
    entries: list[Served] = field(default_factory=list)
    more: bool = False
    next: str | None = None

    @property
    def first_added(self) -> dt.datetime | None:
        return self.entries[0].date_added if self.entries else None

    @property
    def last_added(self) -> dt.datetime | None:
        return self.entries[-1].date_added if self.entries else None


def page(entries: Iterable[Served], flt: Filters) -> Page:
    chosen = matching(entries, flt)
    if flt.next is not None:
        position = flt.next
        chosen = [e for e in chosen if e.key > position]
    shown = chosen[: flt.limit]
    more = len(chosen) > len(shown)
    return Page(shown, more, make_next(shown[-1]) if more else None)


def one_object(entries: Iterable[Served], object_id: str) -> list[Served]:
    """Every visible version of one object; a refusal when the client sees none (it may not learn it exists)."""
    found = [e for e in entries if e.id == object_id]
    if not found:
        raise NotFoundError(NO_OBJECT, id=object_id)
    return found


def check_collection(collection_id: str) -> None:
    if collection_id != COLLECTION_ID:
        raise NotFoundError(NO_COLLECTION, id=collection_id)


def no_status(status_id: str) -> NotFoundError:
    return NotFoundError(NO_STATUS, id=status_id)


def audit_served(session: Session, trail: AuditTrail, user: User, entries: Iterable[Served]) -> None:
    """A bulk read of released records, by a partner's client: the accounting of who pulled what."""
    records = sorted({e.record_id for e in entries if e.record_id is not None})
    if records:
        trail.append(
            session,
            user,
            "taxii.served",
            "collection",
            COLLECTION_ID,
            {"agency": user.agency, "count": len(records), "records": records},
        )
