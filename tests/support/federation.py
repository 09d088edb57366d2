"""Helpers for tests that federate two nodes in process: pinning a partner and a release payload."""

from __future__ import annotations

from typing import Any

from alianza.accounts.service import get_user
from alianza.federation.partners import add_partner
from alianza.identity import public_key_text
from alianza.node import Node


def pin(receiver: Node, sender: Node, url: str = "http://127.0.0.1:9") -> None:
    """Make ``sender`` a pinned partner of ``receiver`` (with its sealing key), as an admin would."""
    with receiver.db.transaction() as session:
        add_partner(
            session,
            get_user(session, "admin"),
            name=sender.settings.federation_id,
            url=url,
            country=sender.settings.country,
            key=public_key_text(sender.identity.public_key),
            seal_key=sender.identity.seal_public_text,
        )


def release_payload(entity_id: str = "p1", name: str = "John Doe") -> dict[str, Any]:
    """What a US node's approved release of one person looks like in its envelope."""
    return {
        "release_id": 1,
        "recipient_agency": "mx_fgr",
        "purpose": "criminal_investigation",
        "entities": [
            {
                "id": entity_id,
                "schema": "Person",
                "properties": {"name": [name]},
                "alianza:markings": {
                    "tlp": "AMBER",
                    "handling": "H0",
                    "origin_agency": "us_dea",
                    "origin_country": "US",
                    "source_reliability": "B",
                    "info_accuracy": "2",
                    "legal_basis": "us_title21",
                    "purpose": "criminal_investigation",
                    "retention_review": "2030-01-01",
                },
            }
        ],
    }
