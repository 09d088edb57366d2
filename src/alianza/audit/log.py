"""Appending to and verifying the audit chain.

Each entry's hash covers its content and the previous entry's hash, and the node signs that hash: editing
an entry breaks its hash, deleting one breaks the sequence and the next entry's link, reordering breaks the
links, and rewriting the whole chain needs the node's private key. ``verify`` names each broken entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from alianza.audit.models import AuditEntry
from alianza.identity import NodeIdentity, canonical_json, verify
from alianza.store.db import utcnow

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x414C5A41  # 'ALZA': serialises appends on PostgreSQL


def entry_content(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }


def compute_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(canonical_json(entry_content(entry))).hexdigest()


def append(
    session: Session,
    identity: NodeIdentity,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction: the audit entry commits or rolls back with the change."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        at=at or utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=details or {},
        prev_hash=last.entry_hash if last else GENESIS,
        key_id=identity.key_id,
    )
    entry.entry_hash = compute_hash(entry)
    entry.signature = identity.sign(entry.entry_hash.encode("ascii"))
    session.add(entry)
    session.flush()
    return entry


PROBLEM_MESSAGES = {
    "deleted": "Entries {first} to {last} are missing: deleted.",
    "edited": "Entry {seq} was edited: its content no longer matches its hash.",
    "reordered": "Entry {seq} holds what was written as entry {original}: reordered.",
    "relinked": "Entry {seq} does not follow entry {previous}: reordered or replaced.",
    "signature": "Entry {seq} is not signed by a key of this node.",
}


@dataclass(frozen=True)
class Problem:
    kind: str
    seq: int
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, gettext: Any = None) -> str:
        template = PROBLEM_MESSAGES[self.kind]
        return str((gettext(template) if gettext else template).format(seq=self.seq, **self.params))


@dataclass
class Verification:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        rows = list(session.scalars(query))
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def _original_seq(entry: AuditEntry, window: int = 1000) -> int | None:
    """The position an entry was written at, when it was moved intact to another position."""
    content = entry_content(entry)
    for delta in range(1, window + 1):
        for seq in (entry.seq - delta, entry.seq + delta):
            if seq > 0 and hashlib.sha256(canonical_json(content | {"seq": seq})).hexdigest() == entry.entry_hash:
                return seq
    return None


def verify_chain(session: Session, keys: dict[str, Ed25519PublicKey]) -> Verification:
    """Walk the whole chain; every edited, deleted, reordered or wrongly signed entry is reported by number."""
    result = Verification()
    expected_seq, prev_hash = 1, GENESIS
    for entry in _entries(session):
        result.checked += 1
        if entry.seq != expected_seq:
            result.problems.append(Problem("deleted", expected_seq, {"first": expected_seq, "last": entry.seq - 1}))
        if entry.entry_hash != compute_hash(entry):
            original = _original_seq(entry)
            if original is not None:
                result.problems.append(Problem("reordered", entry.seq, {"original": original}))
            else:
                result.problems.append(Problem("edited", entry.seq))
        elif entry.prev_hash != prev_hash and entry.seq == expected_seq:
            result.problems.append(Problem("relinked", entry.seq, {"previous": entry.seq - 1}))
        key = keys.get(entry.key_id)
        if key is None or not verify(key, entry.entry_hash.encode("ascii"), entry.signature):
            result.problems.append(Problem("signature", entry.seq))
        expected_seq, prev_hash = entry.seq + 1, entry.entry_hash
        result.head_seq, result.head_hash = entry.seq, entry.entry_hash
    return result


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
