"""The node's Ed25519 identity: it signs the audit log now and federation envelopes later.

The private key lives in the node folder (``keys/node_ed25519.pem``, mode 0600), never in the database, so
a database dump cannot forge the node's signatures. ``key_id`` is a short fingerprint of the public key,
recorded with every signature so that verification still works after a key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alianza.errors import ConfigurationError

KEY_FILE = "keys/node_ed25519.pem"


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON (sorted keys, no spaces, UTF-8): the bytes that are hashed and signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise ConfigurationError("Not an Ed25519 public key in base64: {err}", err=str(exc)) from None


def key_fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(base64.b64decode(public_key_text(key))).hexdigest()[:16]


@dataclass(frozen=True)
class NodeIdentity:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_fingerprint(self.public_key)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode("ascii")


def verify(public_key: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_or_create(data_dir: Path) -> NodeIdentity:
    """The node's key; created on first use with owner-only permissions."""
    path = data_dir / KEY_FILE
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise ConfigurationError(
                "The node key {path} cannot be read: {err}", path=str(path), err=str(exc)
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError("The node key {path} is not an Ed25519 key.", path=str(path))
        return NodeIdentity(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)
    return NodeIdentity(key)
