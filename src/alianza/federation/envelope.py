"""Signed envelopes: the only form in which anything crosses between nodes.

An envelope is canonical JSON ``{id, sender, recipient, type, created, sequence, payload}`` signed with the
sender's Ed25519 key; the signature and the signing key's id travel beside it. The receiver checks the
signature against the keys it pinned for that partner, so nobody can forge a node, and any change to any
field (payload included) breaks the signature. A payload may be sealed to the recipient's X25519 key
(ephemeral X25519 + HKDF-SHA256 + ChaCha20-Poly1305), so that relays and logs in between see only ciphertext.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alianza.errors import AlianzaError
from alianza.identity import NodeIdentity, canonical_json, verify

TYPES = frozenset(
    {
        "release",
        "recall",
        "request",
        "response",
        "match_offer",
        "match_result",
        "ack",
        "audit_checkpoint",
        "key_rotation",
    }
)
MAX_AGE = dt.timedelta(days=2)
MAX_SKEW = dt.timedelta(minutes=5)
_SEAL_INFO = b"alianza-envelope-seal-v1"


class EnvelopeError(AlianzaError):
    """An envelope was refused; ``code`` says why (bad signature, unknown sender, replay, stale, malformed)."""

    code = "envelope_refused"
    http_status = 400


class UnknownSenderError(EnvelopeError):
    code = "unknown_sender"
    http_status = 401


class BadSignatureError(EnvelopeError):
    code = "bad_signature"
    http_status = 401


class StaleEnvelopeError(EnvelopeError):
    code = "stale_envelope"
    http_status = 400


class ReplayError(EnvelopeError):
    code = "replayed_envelope"
    http_status = 409


class MalformedEnvelopeError(EnvelopeError):
    code = "malformed_envelope"
    http_status = 422


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Envelope:
    id: str
    sender: str
    recipient: str
    type: str
    created: str
    sequence: int
    payload: dict[str, Any]
    key_id: str = ""
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender": self.sender,
            "recipient": self.recipient,
            "type": self.type,
            "created": self.created,
            "sequence": self.sequence,
            "payload": self.payload,
        }

    def to_json(self) -> dict[str, Any]:
        return self.body() | {"key_id": self.key_id, "signature": self.signature}

    @property
    def created_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.created)


def make(
    identity: NodeIdentity,
    *,
    sender: str,
    recipient: str,
    type: str,
    sequence: int,
    payload: dict[str, Any],
    envelope_id: str | None = None,
    created: dt.datetime | None = None,
) -> Envelope:
    unsigned = Envelope(
        id=envelope_id or uuid.uuid4().hex,
        sender=sender,
        recipient=recipient,
        type=type,
        created=(created or utc_now()).isoformat(),
        sequence=sequence,
        payload=payload,
    )
    return Envelope(**unsigned.body(), key_id=identity.key_id, signature=identity.sign(canonical_json(unsigned.body())))


def parse(data: Any) -> Envelope:
    """Shape check only; nothing is trusted until ``check`` has verified it."""
    if not isinstance(data, dict):
        raise MalformedEnvelopeError("An envelope must be a JSON object.")
    required = {
        "id": str,
        "sender": str,
        "recipient": str,
        "type": str,
        "created": str,
        "sequence": int,
        "payload": dict,
        "key_id": str,
        "signature": str,
    }
    problems = [name for name, kind in required.items() if not isinstance(data.get(name), kind)]
    if problems or isinstance(data.get("sequence"), bool):
        raise MalformedEnvelopeError("The envelope lacks or mistypes: {fields}.", fields=", ".join(problems))
    extra = set(data) - set(required)
    if extra:
        raise MalformedEnvelopeError("The envelope has unknown fields: {fields}.", fields=", ".join(sorted(extra)))
    if data["type"] not in TYPES:
        raise MalformedEnvelopeError("Unknown envelope type '{type}'.", type=data["type"])
    try:
        dt.datetime.fromisoformat(data["created"])
    except ValueError:
        raise MalformedEnvelopeError("The envelope's created time is not an ISO 8601 timestamp.") from None
    return Envelope(**{k: data[k] for k in required})


def check(
    envelope: Envelope,
    *,
    me: str,
    keys: dict[str, Ed25519PublicKey],
    now: dt.datetime | None = None,
) -> None:
    """Refuse anything not addressed to us, not signed by a pinned key of the sender, or too old/new."""
    if envelope.recipient != me:
        raise MalformedEnvelopeError(
            "This envelope is addressed to {recipient}, not to this node.", recipient=envelope.recipient
        )
    key = keys.get(envelope.key_id)
    if key is None:
        raise UnknownSenderError(
            "No pinned key {key_id} for sender {sender}.", key_id=envelope.key_id, sender=envelope.sender
        )
    if not verify(key, canonical_json(envelope.body()), envelope.signature):
        raise BadSignatureError("The signature of envelope {id} does not verify.", id=envelope.id)
    now = now or utc_now()
    created = envelope.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    if created < now - MAX_AGE:
        raise StaleEnvelopeError("Envelope {id} is older than the accepted window.", id=envelope.id)
    if created > now + MAX_SKEW:
        raise StaleEnvelopeError("Envelope {id} claims a time in the future.", id=envelope.id)


def _derive(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_SEAL_INFO).derive(shared)


def seal(payload: dict[str, Any], recipient_key_b64: str) -> dict[str, Any]:
    """Encrypt a payload to the recipient's X25519 key; only the recipient can open it."""
    recipient = X25519PublicKey.from_public_bytes(base64.b64decode(recipient_key_b64))
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _derive(ephemeral.exchange(recipient), epk)
    nonce = os.urandom(12)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, canonical_json(payload), epk)
    b64 = base64.b64encode
    return {"sealed": {"epk": b64(epk).decode(), "nonce": b64(nonce).decode(), "ct": b64(ciphertext).decode()}}


def unseal(payload: dict[str, Any], identity: NodeIdentity) -> dict[str, Any]:
    """Open a sealed payload (or return a clear one as it is)."""
    sealed = payload.get("sealed")
    if not isinstance(sealed, dict):
        return payload
    if identity.seal_key is None:
        raise MalformedEnvelopeError("This node has no sealing key to open the payload.")
    try:
        epk = base64.b64decode(sealed["epk"])
        key = _derive(identity.seal_key.exchange(X25519PublicKey.from_public_bytes(epk)), epk)
        clear = ChaCha20Poly1305(key).decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), epk)
    except (KeyError, ValueError, InvalidTag):
        raise MalformedEnvelopeError("The sealed payload cannot be opened with this node's key.") from None
    opened = json.loads(clear)
    if not isinstance(opened, dict):
        raise MalformedEnvelopeError("The sealed payload is not a JSON object.")
    return opened
