"""The courier: pushes each partner's queued envelopes in sequence order until they are acknowledged.

Envelopes are built at send time from the outbox row (its envelope id and sequence are fixed when queued), so a
retry after any failure resends the very same envelope, which the partner recognises. Only a signed
acknowledgement from the partner's pinned key marks a message delivered. Network errors and 5xx answers are
retried with exponential backoff; a refusal that cannot succeed on retry (a 4xx other than a sequence gap) parks
the message as failed with the partner's reason, visible in the UI, and stops that partner's stream until an
operator fixes the cause and runs ``alianza federation retry``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select, update

from alianza.federation import envelope as env
from alianza.federation.checkpoints import maybe_send_checkpoint
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner, list_partners
from alianza.identity import NodeIdentity
from alianza.store.db import utcnow

if TYPE_CHECKING:
    from alianza.node import Node

logger = logging.getLogger("alianza.federation")
INBOX_PATH = "/federation/v1/inbox"
MAX_BACKOFF = 30.0
# Refusals that a later attempt can overcome: the partner has not pinned us yet (or not our new key), our clock
# or the envelope's age, or a gap it will tell us how to fill. Anything else parks the message as failed.
RETRYABLE = frozenset({"sequence_gap", "unknown_sender", "bad_signature", "stale_envelope"})


@dataclass
class Outcome:
    delivered: int = 0
    failed: int = 0
    error: str = ""


def _payload(message: OutboxMessage, partner: Partner) -> dict[str, Any]:
    return env.seal(message.payload, partner.seal_key) if partner.seal_key else message.payload


def signers(node: Node, partner_name: str) -> Callable[[int], NodeIdentity]:
    """Which key signs each sequence: until the partner has the announcement of a new key, the old key signs."""
    with node.db.reading() as session:
        rotation = session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.recipient == partner_name,
                OutboxMessage.kind == "key_rotation",
                OutboxMessage.delivered_at.is_(None),
            )
            .order_by(OutboxMessage.sequence)
        ).first()
        if rotation is None:
            return lambda _sequence: node.identity
        last_old = int(rotation.sequence or 0)
        old = node.identity.signer(str(rotation.payload.get("signed_with", "")))
    return lambda sequence: old if sequence <= last_old else node.identity


def deliver_batch(node: Node, partner_name: str, client: httpx.Client, limit: int | None = None) -> Outcome:
    """Send the next batch to one partner; returns how many were acknowledged."""
    limit = limit or node.settings.federation_batch
    me = node.settings.federation_id
    with node.db.reading() as session:
        partner = session.get(Partner, partner_name)
        if partner is None:
            return Outcome(error="unknown partner")
        session.expunge(partner)
        messages = list(
            session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.recipient == partner_name,
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.sequence.is_not(None),
                )
                .order_by(OutboxMessage.sequence)
                .limit(limit)
            )
        )
        for m in messages:
            session.expunge(m)
    if not messages:
        return Outcome()
    signer = signers(node, partner_name)
    envelopes = [
        env.make(
            signer(int(m.sequence or 0)),
            sender=me,
            recipient=partner_name,
            type=m.kind,
            sequence=int(m.sequence or 0),
            payload=_payload(m, partner),
            envelope_id=m.envelope_id,
        ).to_json()
        for m in messages
    ]
    try:
        response = client.post(f"{partner.url}{INBOX_PATH}", json={"envelopes": envelopes})
    except httpx.HTTPError as exc:
        return _failure(node, partner_name, f"{type(exc).__name__}: {exc}")
    if response.status_code >= 500:
        return _failure(node, partner_name, f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return _failure(node, partner_name, f"HTTP {response.status_code}: not JSON")
    if response.status_code != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return _refused(node, partner_name, messages[0], str(error.get("code", "")), str(error.get("message", "")))
    try:
        ack = env.parse(body)
        env.check(ack, me=me, keys=partner.pinned_keys())
    except env.EnvelopeError as exc:
        return _failure(node, partner_name, f"acknowledgement refused: {exc.render()}")
    return _acknowledged(node, partner_name, messages, ack)


def _acknowledged(node: Node, partner_name: str, messages: list[OutboxMessage], ack: env.Envelope) -> Outcome:
    acked = {int(a["sequence"]) for a in ack.payload.get("acks", []) if a.get("status") in ("applied", "duplicate")}
    by_seq = {int(m.sequence or 0): m for m in messages}
    now = utcnow()
    done = [by_seq[s] for s in sorted(acked) if s in by_seq]
    with node.db.transaction() as session:
        if done:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_([m.id for m in done])).values(delivered_at=now)
            )
            recalls = [int(m.reference) for m in done if m.kind == "recall"]
            if recalls:
                from alianza.releases.models import Recall

                session.execute(update(Recall).where(Recall.id.in_(recalls)).values(acknowledged_at=now))
            node.trail.append(
                session,
                "system",
                "federation.delivered",
                "partner",
                partner_name,
                {"sequences": [min(acked), max(acked)], "count": len(done), "ack": ack.id},
            )
        partner = session.get(Partner, partner_name)
        if partner is not None:
            partner.last_contact = now
            partner.failures = 0
            partner.last_error = ""
    error = ack.payload.get("error")
    if isinstance(error, dict) and error.get("code") not in RETRYABLE and len(done) < len(messages):
        failed_message = messages[len(done)]
        outcome = _refused(node, partner_name, failed_message, str(error.get("code")), str(error.get("message")))
        outcome.delivered = len(done)
        return outcome
    return Outcome(delivered=len(done))


def _failure(node: Node, partner_name: str, reason: str) -> Outcome:
    logger.info("Delivery to %s failed: %s", partner_name, reason)
    with node.db.transaction() as session:
        partner = session.get(Partner, partner_name)
        if partner is not None:
            partner.failures += 1
            partner.last_error = reason[:500]
    return Outcome(error=reason)


def _refused(node: Node, partner_name: str, message: OutboxMessage, code: str, reason: str) -> Outcome:
    if code in RETRYABLE:
        return _failure(node, partner_name, f"{code}: {reason}")
    logger.warning("Partner %s refused message %s: %s %s", partner_name, message.sequence, code, reason)
    with node.db.transaction() as session:
        row = session.get(OutboxMessage, message.id)
        if row is not None:
            row.failed_at = utcnow()
            row.last_error = f"{code}: {reason}"[:1000]
        partner = session.get(Partner, partner_name)
        if partner is not None:
            partner.failures += 1
            partner.last_error = f"refused {message.sequence}: {code}"[:500]
        node.trail.append(
            session,
            "system",
            "federation.refused_by_partner",
            "partner",
            partner_name,
            {"sequence": message.sequence, "code": code, "reason": reason[:500]},
        )
    return Outcome(failed=1, error=reason)


class Courier:
    """The delivery loop inside ``alianza serve``: one thread, every partner, backoff per partner."""

    def __init__(self, node: Node, *, timeout: float = 30.0) -> None:
        self.node = node
        self.stop = threading.Event()
        self.client = httpx.Client(timeout=timeout)
        self._next_try: dict[str, float] = {}
        self._last_checkpoint = 0.0
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        import time

        delivered = 0
        with self.node.db.reading() as session:
            names = [(p.name, p.failures) for p in list_partners(session)]
        for name, failures in names:
            if time.monotonic() < self._next_try.get(name, 0.0):
                continue
            outcome = deliver_batch(self.node, name, self.client)
            delivered += outcome.delivered
            if outcome.error and not outcome.delivered:
                self._next_try[name] = time.monotonic() + min(MAX_BACKOFF, 0.5 * 2 ** min(failures, 6))
            else:
                self._next_try.pop(name, None)
        return delivered

    def _checkpoint(self) -> None:
        import time

        if time.monotonic() - self._last_checkpoint < self.node.settings.federation_checkpoint_seconds:
            return
        self._last_checkpoint = time.monotonic()
        with self.node.db.transaction() as session:
            maybe_send_checkpoint(session, self.node)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self._checkpoint()
                busy = self.run_once()
            except Exception:  # the loop must survive anything; the error is logged for the operator
                logger.exception("Federation courier error")
                busy = 0
            if not busy:
                self.stop.wait(self.node.settings.federation_poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alianza-courier", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()


def retry_failed(node: Node, partner_name: str, actor: str = "admin") -> int:
    """Put parked messages back in the queue (after the cause of the refusal was fixed)."""
    with node.db.transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.recipient == partner_name,
                OutboxMessage.failed_at.is_not(None),
                OutboxMessage.delivered_at.is_(None),
            )
            .values(failed_at=None, last_error="")
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        partner = session.get(Partner, partner_name)
        if partner is not None:
            partner.failures = 0
        node.trail.append(session, actor, "federation.retry", "partner", partner_name, {"messages": count})
    return count
