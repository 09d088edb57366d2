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
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from alianza.errors import ConfigurationError

KEY_FILE = "keys/node_ed25519.pem"
SEAL_KEY_FILE = "keys/node_x25519.pem"
RETIRED_DIR = "keys/retired"


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
    seal_key: X25519PrivateKey | None = None
    retired: tuple[Ed25519PrivateKey, ...] = ()

    def signer(self, key_id: str) -> NodeIdentity:
        """This identity signing with one of its keys (a retired one during a rotation's overlap)."""
        for key in self.retired:
            if key_fingerprint(key.public_key()) == key_id:
                return NodeIdentity(key, self.seal_key)
        return self

    @property
    def seal_public_text(self) -> str:
        if self.seal_key is None:
            return ""
        raw = self.seal_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    def all_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The current key and the retired ones, so old signatures (audit entries) still verify."""
        keys = {key_fingerprint(k.public_key()): k.public_key() for k in self.retired}
        keys[self.key_id] = self.public_key
        return keys

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


def _write_private(path: Path, key: Ed25519PrivateKey | X25519PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)


def _read_private(path: Path) -> Any:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigurationError("The node key {path} cannot be read: {err}", path=str(path), err=str(exc)) from None


def load_or_create(data_dir: Path) -> NodeIdentity:
    """The node's keys (signing and sealing); created on first use with owner-only permissions."""
    path = data_dir / KEY_FILE
    if not path.exists():
        _write_private(path, Ed25519PrivateKey.generate())
    key = _read_private(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("The node key {path} is not an Ed25519 key.", path=str(path))
    seal_path = data_dir / SEAL_KEY_FILE
    if not seal_path.exists():
        _write_private(seal_path, X25519PrivateKey.generate())
    seal = _read_private(seal_path)
    if not isinstance(seal, X25519PrivateKey):
        raise ConfigurationError("The node key {path} is not an X25519 key.", path=str(seal_path))
    retired = []
    for old in sorted((data_dir / RETIRED_DIR).glob("*.pem")):
        old_key = _read_private(old)
        if isinstance(old_key, Ed25519PrivateKey):
            retired.append(old_key)
    return NodeIdentity(key, seal, tuple(retired))


def rotate(data_dir: Path) -> tuple[NodeIdentity, Ed25519PublicKey]:
    """Make a new signing key; the old one is kept (retired) so its past signatures still verify."""
    current = load_or_create(data_dir)
    retired_path = data_dir / RETIRED_DIR / f"{current.key_id}.pem"
    _write_private(retired_path, current.private_key)
    _write_private(data_dir / KEY_FILE, Ed25519PrivateKey.generate())
    return load_or_create(data_dir), current.public_key
