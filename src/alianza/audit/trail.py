"""The node's audit trail: the signing identity bound to the append and verify functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.audit import log
from alianza.audit.models import AuditEntry
from alianza.identity import NodeIdentity


@dataclass(frozen=True)
class AuditTrail:
    identity: NodeIdentity

    def append(
        self,
        session: Session,
        actor: User | str,
        action: str,
        object_type: str,
        object_id: str | int,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        name = actor if isinstance(actor, str) else actor.username
        return log.append(
            session,
            self.identity,
            actor=name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details,
        )

    def keys(self) -> dict[str, Ed25519PublicKey]:
        return self.identity.all_public_keys()

    def verify(self, session: Session) -> log.Verification:
        return log.verify_chain(session, self.keys())
