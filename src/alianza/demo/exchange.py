"""The two-node demo: records on each side and the releases the demo shares through the real release gate.

Everything goes through the domain services (ingest rules, the gate, four-eyes review, the outbox), so what
the demo shows is what the product does; the couriers of the two running nodes then deliver the releases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.node import Node
from alianza.records import service as records
from alianza.records.schemas import RecordInput
from alianza.releases import service as releases

DATA = Path(__file__).parent / "data" / "records.yaml"
PARTNER_OF = {"MX": "us-node", "US": "mx-node"}
ANALYST_OF = {"MX": "analyst.mx", "US": "analyst.us"}
REVIEWER_OF = {"MX": "legal.mx", "US": "legal.us"}


def _user(node: Node, username: str) -> User:
    with node.db.reading() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        session.expunge(user)
    return user


def seed_records(node: Node) -> dict[str, Any]:
    """Create this node's demo records and propose and approve the releases the data file asks for."""
    country = node.settings.country
    entries = [e for e in yaml.safe_load(DATA.read_text(encoding="utf-8"))["records"] if e["node"] == country]
    analyst, reviewer = _user(node, ANALYST_OF[country]), _user(node, REVIEWER_OF[country])
    ids: dict[str, str] = {}
    with node.db.transaction() as session:
        for entry in entries:
            properties = {
                k: [ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v for v in values]
                for k, values in entry["properties"].items()
            }
            data = RecordInput.model_validate(
                {"schema": entry["schema"], "properties": properties, "markings": entry["markings"]}
            )
            ids[entry["key"]] = records.create_record(session, analyst, node.trail, country, data).id
    released = 0
    for entry in entries:
        spec = entry.get("release")
        if not spec:
            continue
        proposal = releases.ReleaseProposal(
            record_ids=[ids[entry["key"]]],
            recipient_node=PARTNER_OF[country],
            recipient_agency=spec["to"],
            purpose=spec["purpose"],
            legal_basis=spec["ground"],
            justification="Demo release (illustrative workflow)",
        )
        release = releases.propose(node.db, analyst, node.trail, node.framework, proposal)
        with node.db.transaction() as session:
            releases.review(
                session,
                reviewer,
                node.trail,
                node.framework,
                release.id,
                approve=True,
                note="Demo: approved by the legal reviewer",
                version=release.version,
            )
        released += 1
    return {"records": len(ids), "releases": released}
