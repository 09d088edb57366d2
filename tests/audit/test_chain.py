"""The audit chain: append-only in the database, and ``verify`` names every edited, deleted or moved entry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from alianza.identity import load_or_create
from alianza.node import Node


def _fill(node: Node, count: int = 6) -> None:
    with node.db.transaction() as session:
        for i in range(1, count + 1):
            node.trail.append(session, "admin", "record.created", "record", f"r{i}", {"n": i, "note": "ñandú"})


def _drop_guards(node: Node) -> None:
    """What an attacker with database-owner rights would do first."""
    with node.db.transaction() as session:
        if node.db.is_sqlite:
            session.execute(text("DROP TRIGGER audit_log_no_update"))
            session.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            session.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


def test_intact_chain_verifies(node: Node) -> None:
    _fill(node)
    with node.db.reading() as session:
        result = node.trail.verify(session)
    assert result.ok
    assert (result.checked, result.head_seq) == (6, 6)


def test_database_refuses_update_and_delete(node: Node) -> None:
    _fill(node, 2)
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), node.db.transaction() as session:
            session.execute(text(statement))


def _edit(node: Node) -> None:
    with node.db.transaction() as session:
        session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))


def _delete(node: Node) -> None:
    with node.db.transaction() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq = 4"))


def _reorder(node: Node) -> None:
    with node.db.transaction() as session:
        session.execute(text("UPDATE audit_log SET seq = 1000 WHERE seq = 2"))
        session.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 5"))
        session.execute(text("UPDATE audit_log SET seq = 5 WHERE seq = 1000"))


def _resign(node: Node) -> None:
    """Rewrite an entry and its hash consistently, but sign with a key that is not the node's."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alianza.audit.log import entry_content
    from alianza.audit.models import AuditEntry
    from alianza.identity import NodeIdentity, canonical_json

    forger = NodeIdentity(Ed25519PrivateKey.generate())
    with node.db.transaction() as session:
        entry = session.get(AuditEntry, 6)
        assert entry is not None
        entry.actor = "mallory"
        entry.entry_hash = hashlib.sha256(canonical_json(entry_content(entry))).hexdigest()
        entry.signature = forger.sign(entry.entry_hash.encode())


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit, [("edited", 3)]),
        (_delete, [("deleted", 4)]),
        (_reorder, [("reordered", 2), ("reordered", 5)]),
        (_resign, [("signature", 6)]),
    ],
)
def test_verify_names_each_kind_of_tampering(
    node: Node, tamper: Callable[[Node], None], expected: list[tuple[str, int]]
) -> None:
    _fill(node)
    _drop_guards(node)
    tamper(node)
    with node.db.reading() as session:
        result = node.trail.verify(session)
    found = [(p.kind, p.seq) for p in result.problems]
    for item in expected:
        assert item in found
    assert not result.ok
    assert all(p.message() for p in result.problems)


def test_node_key_is_stable_and_private(node: Node) -> None:
    again = load_or_create(node.settings.data_dir)
    assert again.key_id == node.identity.key_id
    key_file = node.settings.data_dir / "keys" / "node_ed25519.pem"
    assert key_file.stat().st_mode & 0o077 == 0
