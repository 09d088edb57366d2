"""``alianza match``: candidates and decisions, offers to a pinned partner, hits and requests, on a node made
by ``alianza init`` on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from alianza.audit.models import AuditEntry
from alianza.federation.outbox import OutboxMessage
from alianza.matching.models import MatchDecision
from alianza.node import Node, init_node, open_node
from tests.cli.conftest import alianza, ok
from tests.conftest import PASSWORD, make_user
from tests.matching.test_resolution_db import _seed
from tests.support.federation import pin as _pin
from tests.web.test_matching_ui import add_hit


@contextmanager
def opened(config: Path) -> Iterator[Node]:
    node = open_node(config, migrate=False)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def seeded(config: Path) -> Path:
    """The CLI node with an FGR analyst, an auditor and the resolution test's persons."""
    with opened(config) as node:
        analyst = make_user(node, "analyst", "analyst", "mx_fgr")
        make_user(node, "auditor", "auditor", "mx_sre")
        _seed(node, analyst)
    return config


@pytest.fixture
def partner(seeded: Path, tmp_path: Path) -> Iterator[Node]:
    """A US node on SQLite, pinned by the CLI node."""
    us_config = init_node(
        tmp_path / "us",
        country="US",
        name="US",
        database_url=None,
        admin_username="admin",
        admin_password=PASSWORD,
        admin_agency="us_state",
    )
    us = open_node(us_config)
    with opened(seeded) as node:
        _pin(node, us)
    yield us
    us.close()


def queued(config: Path, kind: str) -> list[tuple[str, str]]:
    with opened(config) as node, node.db.reading() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
        return [(m.recipient, m.reference) for m in rows]


def test_candidates_and_decide(seeded: Path) -> None:
    table = ok("match", "candidates", "--config", seeded, "--user", "analyst").stdout
    assert "José Luis Pérez López" in table and "PÉREZ LÓPEZ, Pepe" in table
    rows = json.loads(ok("match", "candidates", "--json", "--config", seeded, "--user", "analyst").stdout)
    pair = next(r for r in rows if (r["left"], r["right"]) == ("p-1", "p-2"))
    features = {f["comparison"]: f for f in pair["explanation"]["features"]}
    assert features["given_names"]["level"] == "hypocorism" and pair["decision"] == ""

    undecided = alianza("match", "decide", str(pair["id"]), "--config", seeded, "--user", "analyst")
    assert undecided.exit_code == 2 and "confirm or to reject" in undecided.stderr
    refused = alianza("match", "decide", str(pair["id"]), "--confirm", "--config", seeded, "--user", "auditor")
    assert refused.exit_code == 2 and "permission_denied" in refused.stderr

    done = ok(
        "match", "decide", str(pair["id"]), "--reject", "--note", "Other CURP", "--config", seeded, "--user", "analyst"
    )
    assert f"Pair {pair['id']} rejected." in done.stdout
    with opened(seeded) as node, node.db.reading() as session:
        row = session.get(MatchDecision, pair["id"])
        assert row is not None and row.decision == "rejected" and row.note == "Other CURP"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.rejected")).one()
        assert entry.actor == "analyst"


def test_offer_hits_and_request(seeded: Path, partner: Node) -> None:
    sent = ok(
        "match",
        "offer",
        "--partner",
        "us-node",
        "--record",
        "p-1",
        "-r",
        "p-3",
        "--config",
        seeded,
        "--user",
        "analyst",
    )
    assert "queued for us-node: 2 person(s)" in sent.stdout
    assert [recipient for recipient, _ in queued(seeded, "match_offer")] == ["us-node"]
    offers = json.loads(ok("match", "offers", "--json", "--config", seeded, "--user", "analyst").stdout)
    assert [(o["direction"], o["subjects"], o["status"]) for o in offers] == [("sent", 2, "open")]
    unknown = alianza("match", "offer", "--partner", "us-node", "--record", "nope", "--config", seeded)
    assert unknown.exit_code == 2 and "nope" in unknown.stderr

    with opened(seeded) as node:
        hit = add_hit(node, "p-1", offer_id=offers[0]["offer_id"])
    hits = json.loads(ok("match", "hits", "--json", "--config", seeded, "--user", "analyst").stdout)
    assert [(h["id"], h["record"], h["partner"]) for h in hits] == [(hit, "p-1", "us-node")]

    bad = alianza("match", "request", str(hit), "--purpose", "gossip", "--subject", "x", "--config", seeded)
    assert bad.exit_code == 2 and "purpose" in bad.stderr
    asked = ok(
        "match",
        "request",
        str(hit),
        "--purpose",
        "criminal_investigation",
        "--subject",
        "Antecedentes del sujeto",
        "--config",
        seeded,
        "--user",
        "analyst",
    )
    assert f"Request about hit {hit} queued for us-node." in asked.stdout
    assert queued(seeded, "request") == [("us-node", f"match:{offers[0]['offer_id']}:h1")]
