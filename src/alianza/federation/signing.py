"""Signed HTTP requests between nodes (pulling the outbox, asking for an audit proof).

The partner signs method, path with query and date with its node key; we check it against the pinned keys and
refuse old dates, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from alianza.federation import envelope as env
from alianza.identity import NodeIdentity, canonical_json, verify

HEADER_SENDER = "X-Alianza-Sender"
HEADER_KEY = "X-Alianza-Key-Id"
HEADER_DATE = "X-Alianza-Date"
HEADER_SIGNATURE = "X-Alianza-Signature"
MAX_REQUEST_AGE = dt.timedelta(minutes=5)


def _message(method: str, target: str, date: str, sender: str) -> bytes:
    return canonical_json({"method": method.upper(), "target": target, "date": date, "sender": sender})


def sign_request(identity: NodeIdentity, sender: str, method: str, target: str) -> dict[str, str]:
    date = env.utc_now().isoformat()
    return {
        HEADER_SENDER: sender,
        HEADER_KEY: identity.key_id,
        HEADER_DATE: date,
        HEADER_SIGNATURE: identity.sign(_message(method, target, date, sender)),
    }


def verify_request(
    headers: dict[str, str], method: str, target: str, keys_of: dict[str, dict[str, Ed25519PublicKey]]
) -> str:
    """The sender's name if the request is signed by one of its pinned keys within the time window."""
    sender = headers.get(HEADER_SENDER.lower(), "")
    keys = keys_of.get(sender)
    if not keys:
        raise env.UnknownSenderError("Unknown sender {sender}: not a partner of this node.", sender=sender)
    key = keys.get(headers.get(HEADER_KEY.lower(), ""))
    date = headers.get(HEADER_DATE.lower(), "")
    signature = headers.get(HEADER_SIGNATURE.lower(), "")
    if key is None or not verify(key, _message(method, target, date, sender), signature):
        raise env.BadSignatureError("The request signature does not verify.")
    try:
        when = dt.datetime.fromisoformat(date)
    except ValueError:
        raise env.StaleEnvelopeError("The request date is not an ISO 8601 timestamp.") from None
    if abs(env.utc_now() - when) > MAX_REQUEST_AGE:
        raise env.StaleEnvelopeError("The request is too old or from the future.")
    return sender
