"""The matching API: candidates with their explanation, decisions (audited, the auditor refused), offers to a
pinned partner, hits and the request made from a hit. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.federation.outbox import OutboxMessage
from alianza.node import Node
from tests.api.helpers import assert_error, detail_fields
from tests.conftest import make_user, token_for
from tests.matching.test_resolution_db import _seed
from tests.support.federation import pin as _pin
from tests.web.test_matching_ui import add_hit, outbox_of


def bearer(client: TestClient, node: Node, user: User) -> TestClient:
    client.headers["Authorization"] = f"Bearer {token_for(node, user)}"
    return client


def test_candidates_and_a_decision(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    client = bearer(app_client, node, analyst)
    response = client.get("/api/v1/matching/candidates")
    assert response.status_code == 200, response.text
    pairs = {(c["left"]["id"], c["right"]["id"]): c for c in response.json()}
    first = pairs[("p-1", "p-2")]
    assert first["left"]["caption"] == "José Luis Pérez López" and first["decision"] is None
    assert first["score"] >= 0.5 and first["algorithm"] == "alianza-fs-v1"
    given = next(f for f in first["explanation"]["features"] if f["comparison"] == "given_names")
    assert given["level"] == "hypocorism" and given["weight"] > 0
    decided = client.post(
        f"/api/v1/matching/candidates/{first['id']}/decision", json={"confirm": True, "note": "Same CURP"}
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["decision"] == "confirmed" and body["decided_by"] == "analyst" and body["note"] == "Same CURP"
    with node.db.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.confirmed")).one()
        assert entry.actor == "analyst" and entry.object_id == str(first["id"])
    again = {c["id"]: c for c in client.get("/api/v1/matching/candidates").json()}
    assert again[first["id"]]["decision"] == "confirmed"  # kept across runs
    assert_error(client.post("/api/v1/matching/candidates/99999/decision", json={"confirm": False}), 404, "not_found")
    assert client.get("/api/v1/matching/candidates", params={"threshold": 2}).status_code == 422


def test_roles_are_enforced(app_client: TestClient, node: Node, analyst: User, coordinator: User) -> None:
    _seed(node, analyst)
    auditor = make_user(node, "auditor", "auditor", "mx_sre")
    client = bearer(app_client, node, auditor)
    found = client.get("/api/v1/matching/candidates").json()
    assert found  # an auditor reads the candidates...
    refused = client.post(f"/api/v1/matching/candidates/{found[0]['id']}/decision", json={"confirm": True})
    assert_error(refused, 403, "permission_denied")  # ...but does not decide
    offer = client.post("/api/v1/matching/offers", json={"partner": "us-node", "record_ids": ["p-1"]})
    assert_error(offer, 403, "permission_denied")
    coordinator_client = bearer(app_client, node, coordinator)
    assert_error(coordinator_client.get("/api/v1/matching/candidates"), 403, "permission_denied")
    assert_error(coordinator_client.get("/api/v1/matching/hits"), 403, "permission_denied")


def test_offer_hits_and_request(app_client: TestClient, node: Node, us: Node, analyst: User) -> None:
    _pin(node, us)
    _seed(node, analyst)
    client = bearer(app_client, node, analyst)
    sent = client.post("/api/v1/matching/offers", json={"partner": "us-node", "record_ids": ["p-1", "p-3"]})
    assert sent.status_code == 201, sent.text
    offer = sent.json()
    assert offer["direction"] == "sent" and offer["subject_count"] == 2 and offer["status"] == "open"
    assert "local_refs" not in offer
    assert [m.recipient for m in outbox_of(node, "match_offer")] == ["us-node"]
    listed = client.get("/api/v1/matching/offers").json()
    assert [o["offer_id"] for o in listed] == [offer["offer_id"]]
    assert client.get("/api/v1/matching/offers", params={"direction": "received"}).json() == []
    bad = client.post("/api/v1/matching/offers", json={"partner": "us-node", "record_ids": ["nope"]})
    assert "record_ids" in detail_fields(assert_error(bad, 422, "validation_error"))
    assert_error(
        client.post("/api/v1/matching/offers", json={"partner": "xx", "record_ids": ["p-1"]}), 404, "not_found"
    )

    hit = add_hit(node, "p-1", offer_id=offer["offer_id"])
    hits = client.get("/api/v1/matching/hits").json()
    assert [(h["id"], h["record"]["id"], h["partner"], h["requested_at"]) for h in hits] == [
        (hit, "p-1", "us-node", None)
    ]
    wrong = client.post(f"/api/v1/matching/hits/{hit}/request", json={"purpose": "gossip", "subject": "x"})
    assert "purpose" in detail_fields(assert_error(wrong, 422, "validation_error"))
    asked = client.post(
        f"/api/v1/matching/hits/{hit}/request",
        json={"purpose": "criminal_investigation", "subject": "Antecedentes del sujeto"},
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["requested_at"] is not None
    queued = outbox_of(node, "request")
    assert len(queued) == 1 and queued[0].reference == f"match:{offer['offer_id']}:h1"
    (listed_hit,) = client.get("/api/v1/matching/hits").json()  # the hit → the request made from it
    assert listed_hit["request"]["envelope_id"] == queued[0].envelope_id
    assert listed_hit["request"]["delivered_at"] is None and listed_hit["requested_at"] is not None
    twice = client.post(
        f"/api/v1/matching/hits/{hit}/request",
        json={"purpose": "criminal_investigation", "subject": "Otra vez"},
    )
    refused = assert_error(twice, 409, "conflict")
    assert refused["details"]["request"]["envelope_id"] == queued[0].envelope_id
    assert refused["message"].startswith("A request about this hit was already sent to us-node")
    assert len(outbox_of(node, "request")) == 1
    assert queued[0].recipient == "us-node" and queued[0].payload["requesting_agency"] == "mx_fgr"
    with node.db.reading() as session:
        assert session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "request")).one()
    assert_error(
        client.post("/api/v1/matching/hits/99999/request", json={"purpose": "criminal_investigation", "subject": "x"}),
        404,
        "not_found",
    )
