"""The federation endpoints. The inbox needs no user login: the envelope's signature is the credential."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alianza.federation import checkpoints, inbox, pull
from alianza.federation import envelope as env
from alianza.federation.partners import list_partners
from alianza.federation.signing import verify_request
from alianza.web.context import node_of

# Node-to-node protocol, not part of the user API: documented in docs/architecture.md, kept out of OpenAPI.
router = APIRouter(prefix="/federation/v1", tags=["federation"], include_in_schema=False)


def _target(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _signed_sender(request: Request) -> str:
    node = node_of(request)
    with node.db.reading() as session:
        keys_of = {p.name: p.pinned_keys() for p in list_partners(session)}
    return verify_request(dict(request.headers), request.method, _target(request), keys_of)


@router.post("/inbox")
async def receive(request: Request) -> JSONResponse:
    """Receive one envelope or ``{"envelopes": [...]}``; answers with a signed acknowledgement."""
    node = node_of(request)
    raw = await request.body()  # over the limit (declared or chunked), the body-limit middleware answers 413
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        malformed = env.MalformedEnvelopeError("The body is not JSON.")
        inbox.logger.warning("Refused envelope from %s: %s (%s)", request.client, malformed.render(), malformed.code)
        raise malformed from None
    from starlette.concurrency import run_in_threadpool

    receipt = await run_in_threadpool(inbox.receive, node, body)
    first = body["envelopes"][0] if isinstance(body, dict) and "envelopes" in body else body
    ack = inbox.ack_envelope(node, str(first.get("sender", "")), receipt)
    return JSONResponse(ack.to_json())


@router.get("/outbox")
def outbox(request: Request, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
    """What is queued for the signed-in partner, after its cursor."""
    sender = _signed_sender(request)
    return pull.serve_pull(node_of(request), sender, cursor, limit)


@router.get("/audit/proof")
def audit_proof(request: Request, seq: int) -> dict[str, Any]:
    """The hash of our audit entry ``seq`` and our current head, signed: the partner checks its checkpoint."""
    sender = _signed_sender(request)
    node = node_of(request)
    with node.db.reading() as session:
        payload = {"seq": seq, "hash": checkpoints.hash_at(session, seq), "head": checkpoints.own_head(session)}
    return env.make(
        node.identity,
        sender=node.settings.federation_id,
        recipient=sender,
        type="audit_checkpoint",
        sequence=0,
        payload=payload,
    ).to_json()
