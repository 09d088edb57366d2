"""Federation pages: each partner's state (last contact, the backlog, parked messages, pinned keys, the audit
checkpoint seen), the exchange history with one partner, and what arrived from the partners.

During a partner's outage the courier keeps every message queued and retries; these pages are where an operator
sees the backlog grow and drain, and where a message the partner refused (parked, it holds the stream) is put
back in the queue by an admin once the cause is fixed. Everyone who may read records may read the exchange.

The shared error handler answers every path under ``/federation/`` as the node-to-node API (JSON, no sign-in
redirect), so these routes use ``_PageRoute``, which renders domain errors as pages like the rest of the UI.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alianza.accounts.permissions import Permission, allowed, require
from alianza.errors import AlianzaError, AuthenticationError, SessionExpiredError
from alianza.federation import delivery
from alianza.federation.checkpoints import PartnerCheckpoint, latest_checkpoint
from alianza.federation.inbox import InboxEnvelope
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner, get_partner, list_partners
from alianza.i18n import Gettext, gettext_for
from alianza.records import service as records
from alianza.records.models import Record
from alianza.releases import service as releases
from alianza.store.db import utcnow
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import N_, ViewerDep, safe_next, see_other, text
from alianza.web.ui.pages import render_error
from alianza.web.ui.records import show

PAGE_SIZE = 50
INCOMING_LIMIT = 200
REQUESTS_LIMIT = 50

#: What travels in an envelope, as a reader names it (a kind not listed is shown as its code).
KINDS: dict[str, str] = {
    "release": N_("Release of records"),
    "recall": N_("Recall of records"),
    "request": N_("Request for information"),
    "response": N_("Answer to a request"),
    "audit_checkpoint": N_("Audit checkpoint"),
    "key_rotation": N_("Key rotation"),
}

#: A partner's state, worst first: a refused message holds its stream until it is requeued.
STATES: dict[str, str] = {
    "held": N_("Held: a message was refused"),
    "failing": N_("Deliveries failing"),
    "new": N_("No contact yet"),
    "ok": N_("In contact"),
}

ANSWERS: dict[str, str] = {"refused": N_("Refused")}


class _PageRoute(APIRoute):
    """Domain errors of these routes become pages (and a missing session the sign-in redirect), not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthenticationError as exc:
                reason = "expired" if isinstance(exc, SessionExpiredError) else "required"
                return RedirectResponse(f"/login?reason={reason}&next={quote(request.url.path)}", status_code=303)
            except AlianzaError as exc:
                return render_error(request, exc)

        return page_errors


router = APIRouter(route_class=_PageRoute)


# ---------------------------------------------------------------------------------------------------- status


@dataclass
class Queue:
    """A recipient's undelivered messages: waiting for delivery (the backlog) and parked after a refusal."""

    queued: int = 0
    oldest: dt.datetime | None = None
    parked: int = 0
    parked_error: str = ""
    parked_at: dt.datetime | None = None


@dataclass
class PinnedKey:
    key_id: str
    valid_until: dt.datetime | None
    expired: bool


@dataclass
class PartnerStatus:
    partner: Partner
    queue: Queue
    keys: list[PinnedKey]
    checkpoint: PartnerCheckpoint | None
    state: str = field(init=False)

    def __post_init__(self) -> None:
        if self.queue.parked:
            self.state = "held"
        elif self.partner.failures:
            self.state = "failing"
        elif self.partner.last_contact is None:
            self.state = "new"
        else:
            self.state = "ok"


def _queues(session: Session, recipient: str | None = None) -> dict[str, Queue]:
    """Backlog and parked messages per recipient, counted in the database (a long outage queues thousands)."""
    waiting = OutboxMessage.failed_at.is_(None)
    query = (
        select(
            OutboxMessage.recipient,
            func.sum(case((waiting, 1), else_=0)),
            func.min(case((waiting, OutboxMessage.created_at))),
            func.sum(case((waiting, 0), else_=1)),
        )
        .where(OutboxMessage.delivered_at.is_(None))
        .group_by(OutboxMessage.recipient)
    )
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    found = {
        str(name): Queue(queued=int(queued or 0), oldest=_as_datetime(oldest), parked=int(parked or 0))
        for name, queued, oldest, parked in session.execute(query)
    }
    for name, queue in found.items():
        if queue.parked:
            last = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.recipient == name,
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.failed_at.is_not(None),
                )
                .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
                .limit(1)
            ).first()
            if last is not None:
                queue.parked_error, queue.parked_at = last.last_error, last.failed_at
    return found


def _as_datetime(value: Any) -> dt.datetime | None:
    """SQLite hands an aggregate over a DATETIME column back as text; PostgreSQL as a datetime."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _keys(partner: Partner, now: dt.datetime) -> list[PinnedKey]:
    """The pinned keys, the current one first; during a rotation's overlap the old ones carry their expiry."""
    found = []
    for entry in partner.keys:
        until = dt.datetime.fromisoformat(entry["valid_until"]) if entry.get("valid_until") else None
        found.append(PinnedKey(str(entry.get("key_id", "")), until, until is not None and until < now))
    return sorted(found, key=lambda k: (k.valid_until is not None, k.expired, -(k.valid_until or now).timestamp()))


def _status(session: Session, partner: Partner, queue: Queue | None, now: dt.datetime) -> PartnerStatus:
    return PartnerStatus(partner, queue or Queue(), _keys(partner, now), latest_checkpoint(session, partner.name))


def _requeued(value: str) -> int | None:
    return int(value) if value.isdigit() else None


# ---------------------------------------------------------------------------------------------------- partners


@router.get("/federation", response_class=HTMLResponse)
def partners_page(request: Request, viewer: ViewerDep, requeued: str = "", of: str = "") -> HTMLResponse:
    require(viewer.user, Permission.READ_RECORDS)
    gettext = gettext_for(viewer.lang)
    now = utcnow()
    with node_of(request).db.reading() as session:
        queues = _queues(session)
        partners = list_partners(session)
        names = {p.name for p in partners}
        rows = [_status(session, p, queues.get(p.name), now) for p in partners]
        # Messages addressed to a node that is not pinned yet get their sequence numbers when it is added.
        unpinned = sorted((name, q) for name, q in queues.items() if name not in names)
        return show(
            request,
            "federation/partners.html",
            viewer,
            rows=rows,
            unpinned=unpinned,
            states={code: gettext(label) for code, label in STATES.items()},
            requeued=_requeued(requeued) if of in names else None,
            requeued_of=of if of in names else "",
        )


# ---------------------------------------------------------------------------------------------------- incoming


@router.get("/federation/incoming", response_class=HTMLResponse)
def incoming_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    node = node_of(request)
    with node.db.transaction() as session:  # listing the partner's records is an audited bulk view
        received = records.search_records(
            session, viewer.user, node.trail, records.RecordFilter(origin="partner"), limit=INCOMING_LIMIT
        )
        asked = releases.list_requests(session, viewer.user)
        return show(
            request,
            "federation/incoming.html",
            viewer,
            received=received,
            limit=INCOMING_LIMIT,
            asked=asked[:REQUESTS_LIMIT],
            asked_total=len(asked),
        )


# ---------------------------------------------------------------------------------------------------- history


@dataclass
class Link:
    text: str
    href: str = ""
    code: bool = False


@dataclass
class Outgoing:
    message: OutboxMessage
    kind: str
    reference: Link
    state: str  # delivered | waiting | parked


@dataclass
class Incoming:
    envelope: InboxEnvelope
    kind: str
    lines: list[Link]
    records: list[Link]
    records_label: str


def _kind(code: str, gettext: Gettext) -> str:
    return gettext(KINDS[code]) if code in KINDS else code


def _outgoing_reference(message: OutboxMessage, gettext: Gettext, may_audit: bool) -> Link:
    """What the message is about, linked to its page here (a recall's reference is the recall, not the release)."""
    ref = message.reference
    if message.kind == "release" and ref.isdigit():
        return Link(gettext("Release {id}").format(id=ref), f"/releases/{ref}")
    if message.kind == "recall":
        release_id = str(message.payload.get("release_id", "")) if isinstance(message.payload, dict) else ""
        if release_id.isdigit():
            return Link(
                gettext("Recall {id} of release {release}").format(id=ref, release=release_id),
                f"/releases/{release_id}",
            )
    if message.kind == "response" and ref.isdigit():
        return Link(gettext("Request {id}").format(id=ref), f"/requests/{ref}")
    if message.kind == "audit_checkpoint" and ref.isdigit():
        href = f"/audit?after={max(int(ref) - 1, 0)}" if may_audit else ""
        return Link(gettext("Our audit entry {seq}").format(seq=ref), href)
    if message.kind == "key_rotation":
        return Link(ref, code=True)
    return Link(ref or "—")


def _outgoing(message: OutboxMessage, gettext: Gettext, may_audit: bool) -> Outgoing:
    if message.delivered_at is not None:
        state = "delivered"
    elif message.failed_at is not None:
        state = "parked"
    else:
        state = "waiting"
    return Outgoing(message, _kind(message.kind, gettext), _outgoing_reference(message, gettext, may_audit), state)


def _record_links(ids: Iterable[Any], found: Mapping[str, Record], viewer: Viewer, gettext: Gettext) -> list[Link]:
    """Records named in an envelope: linked with their caption when the reader may see them, else by id only."""
    links = []
    for raw in ids:
        record_id = str(raw)
        record = found.get(record_id)
        if record is None or not records.can_see(viewer.user, record):
            links.append(Link(record_id, code=True))
        elif record.purged:
            links.append(Link(gettext("{id} (removed)").format(id=record_id), f"/records/{record_id}"))
        else:
            links.append(Link(record.caption, f"/records/{record_id}"))
    return links


def _incoming(envelope: InboxEnvelope, found: Mapping[str, Record], viewer: Viewer, gettext: Gettext) -> Incoming:
    """The summary the inbox kept of what the envelope did here, in the reader's language."""
    summary = envelope.summary if isinstance(envelope.summary, dict) else {}
    lines: list[Link] = []
    ids: list[Any] = []
    label = ""
    if envelope.type in ("release", "recall"):
        if summary.get("release_id") is not None:  # the partner's own number: there is no page for it here
            lines.append(Link(gettext("Partner's release {id}").format(id=summary["release_id"])))
        ids = list(summary.get("records") or [])
        label = gettext("Records received") if envelope.type == "release" else gettext("Records removed")
        if envelope.type == "recall" and summary.get("reason"):
            lines.append(Link(gettext("Reason: {reason}").format(reason=summary["reason"])))
    elif envelope.type == "request" and summary.get("request_id") is not None:
        lines.append(Link(str(summary.get("subject") or ""), f"/requests/{summary['request_id']}"))
    elif envelope.type == "response":
        answer = str(summary.get("answer") or "")
        lines.append(Link(gettext("Answer: {answer}").format(answer=gettext(ANSWERS.get(answer, answer)))))
        if summary.get("reason"):
            lines.append(Link(gettext("Reason: {reason}").format(reason=summary["reason"])))
    elif envelope.type == "audit_checkpoint" and summary.get("seq") is not None:
        lines.append(Link(gettext("Their audit entry {seq}").format(seq=summary["seq"])))
    elif envelope.type == "key_rotation" and summary.get("overlap_days") is not None:
        lines.append(
            Link(
                gettext("New key pinned; the old one is accepted for {days} more day(s).").format(
                    days=summary["overlap_days"]
                )
            )
        )
    return Incoming(envelope, _kind(envelope.type, gettext), lines, _record_links(ids, found, viewer, gettext), label)


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    newer: str | None
    older: str | None


def _page_number(value: str) -> int:
    return max(int(value), 1) if value.isdigit() else 1


def _pager(base: str, name: str, page: int, total: int, other: Mapping[str, int]) -> Pager:
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    page = min(page, pages)

    def url(number: int) -> str:
        params = {k: v for k, v in {**other, name: number}.items() if v > 1}
        return f"{base}?{urlencode(params)}" if params else base

    return Pager(
        page=page,
        pages=pages,
        total=total,
        newer=url(page - 1) if page > 1 else None,
        older=url(page + 1) if page < pages else None,
    )


@router.get("/federation/{partner}", response_class=HTMLResponse)
def partner_page(
    request: Request, viewer: ViewerDep, partner: str, sent: str = "", received: str = "", requeued: str = ""
) -> HTMLResponse:
    require(viewer.user, Permission.READ_RECORDS)
    gettext = gettext_for(viewer.lang)
    now = utcnow()
    may_audit = allowed(viewer.user, Permission.READ_AUDIT)
    base = f"/federation/{quote(partner)}"
    with node_of(request).db.reading() as session:
        found_partner = get_partner(session, partner)
        status = _status(session, found_partner, _queues(session, partner).get(partner), now)
        sent_total = int(
            session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.recipient == partner))
            or 0
        )
        received_total = int(
            session.scalar(select(func.count()).select_from(InboxEnvelope).where(InboxEnvelope.sender == partner)) or 0
        )
        pages = {"sent": _page_number(sent), "received": _page_number(received)}
        sent_pager = _pager(base, "sent", pages["sent"], sent_total, pages)
        received_pager = _pager(base, "received", pages["received"], received_total, pages)
        messages = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == partner)
            .order_by(OutboxMessage.id.desc())
            .offset((sent_pager.page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        envelopes = list(
            session.scalars(
                select(InboxEnvelope)
                .where(InboxEnvelope.sender == partner)
                .order_by(InboxEnvelope.sequence.desc())
                .offset((received_pager.page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
        named = {
            str(rid)
            for e in envelopes
            if isinstance(e.summary, dict) and e.type in ("release", "recall")
            for rid in e.summary.get("records") or []
        }
        found: dict[str, Record] = (
            {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(sorted(named))))} if named else {}
        )
        return show(
            request,
            "federation/partner.html",
            viewer,
            s_=status,
            p=found_partner,
            states={code: gettext(label) for code, label in STATES.items()},
            outgoing=[_outgoing(m, gettext, may_audit) for m in messages],
            incoming=[_incoming(e, found, viewer, gettext) for e in envelopes],
            sent_pager=sent_pager,
            received_pager=received_pager,
            requeued=_requeued(requeued),
        )


# ---------------------------------------------------------------------------------------------------- requeue


@router.post("/federation/{partner}/retry", response_model=None)
async def retry(request: Request, viewer: ViewerDep, partner: str) -> Response:
    """Put the messages the partner refused back in its queue, once an admin has fixed the cause."""
    require(viewer.user, Permission.MANAGE_USERS)  # the domain function does not check who asks
    target = safe_next(text(await request.form(), "next"), "/federation").split("?", 1)[0]
    node = node_of(request)
    with node.db.reading() as session:
        name = get_partner(session, partner).name
    count = delivery.retry_failed(node, name, viewer.user.username)
    params = {"requeued": count} | ({"of": name} if target == "/federation" else {})
    return see_other(f"{target}?{urlencode(params)}")


@router.get("/federation/{partner}/retry", response_model=None)
def retry_get(viewer: ViewerDep, partner: str) -> Response:
    """The language switch on a refused requeue comes back here: show the partner."""
    return see_other(f"/federation/{quote(partner)}")
