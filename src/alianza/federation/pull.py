"""Pulling: a partner that cannot be reached by push (or prefers to poll) fetches what is queued for it.

The cursor is opaque to the partner but carries its own state — the last sequence it has — authenticated with
the node's secret, so the server keeps no session; reading with a cursor also acknowledges everything before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select, update

from alianza.federation import envelope as env
from alianza.federation import inbox
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner
from alianza.federation.signing import sign_request
from alianza.store.db import utcnow

if TYPE_CHECKING:
    from alianza.node import Node

OUTBOX_PATH = "/federation/v1/outbox"
MAX_PULL = 500


def make_cursor(secret: str, partner: str, after: int) -> str:
    body = base64.urlsafe_b64encode(json.dumps({"p": partner, "a": after}).encode()).decode().rstrip("=")
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def read_cursor(secret: str, partner: str, cursor: str | None) -> int:
    if not cursor:
        return 0
    body, _, mac = cursor.partition(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, expected):
        raise env.MalformedEnvelopeError("The cursor is not one this node issued.")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if data.get("p") != partner or not isinstance(data.get("a"), int):
        raise env.MalformedEnvelopeError("The cursor belongs to another partner.")
    return int(data["a"])


def serve_pull(node: Node, partner_name: str, cursor: str | None, limit: int) -> dict[str, Any]:
    """Envelopes after the cursor; everything up to the cursor counts as acknowledged by the partner."""
    after = read_cursor(node.settings.secret_key, partner_name, cursor)
    limit = max(1, min(limit, MAX_PULL))
    with node.db.transaction() as session:
        partner = session.get(Partner, partner_name)
        assert partner is not None
        if after:
            session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.recipient == partner_name,
                    OutboxMessage.sequence <= after,
                    OutboxMessage.delivered_at.is_(None),
                )
                .values(delivered_at=utcnow())
            )
        partner.last_contact = utcnow()
        messages = list(
            session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.recipient == partner_name,
                    OutboxMessage.sequence > after,
                    OutboxMessage.failed_at.is_(None),
                )
                .order_by(OutboxMessage.sequence)
                .limit(limit)
            )
        )
        envelopes = [
            env.make(
                node.identity,
                sender=node.settings.federation_id,
                recipient=partner_name,
                type=m.kind,
                sequence=int(m.sequence or 0),
                payload=env.seal(m.payload, partner.seal_key) if partner.seal_key else m.payload,
                envelope_id=m.envelope_id,
            ).to_json()
            for m in messages
        ]
    last = messages[-1].sequence if messages else after
    return {"envelopes": envelopes, "next_cursor": make_cursor(node.settings.secret_key, partner_name, int(last or 0))}


def pull_from(node: Node, partner_name: str, client: httpx.Client, cursor: str | None = None) -> tuple[int, str | None]:
    """Fetch and apply one page from the partner; returns (applied, cursor to continue from)."""
    with node.db.reading() as session:
        partner = session.get(Partner, partner_name)
        assert partner is not None
        url = partner.url
    target = OUTBOX_PATH + (f"?cursor={cursor}" if cursor else "")
    headers = sign_request(node.identity, node.settings.federation_id, "GET", target)
    response = client.get(f"{url}{target}", headers=headers)
    response.raise_for_status()
    body = response.json()
    applied = 0
    for raw in body.get("envelopes", []):
        status, _envelope = inbox.receive_one(node, raw)
        applied += status == "applied"
    return applied, body.get("next_cursor")
