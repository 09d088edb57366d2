"""Envelopes and the inbox, in process: signatures, sealing, replays, gaps, exactly-once, ingress, rotation, pull."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from alianza.federation import envelope as env
from alianza.federation import inbox, outbox, pull
from alianza.federation.inbox import InboxEnvelope
from alianza.federation.partners import Partner
from alianza.identity import NodeIdentity, public_key_text, rotate
from alianza.node import Node, open_node
from alianza.records.models import Record
from tests.support.federation import pin as _pin
from tests.support.federation import release_payload as _release


def _send(
    sender: Node,
    receiver: Node,
    sequence: int,
    payload: dict[str, Any],
    kind: str = "release",
    identity: NodeIdentity | None = None,
    **kw: Any,
) -> env.Envelope:
    return env.make(
        identity or sender.identity,
        sender=sender.settings.federation_id,
        recipient=receiver.settings.federation_id,
        type=kind,
        sequence=sequence,
        payload=payload,
        **kw,
    )


def _count(node: Node, model: type[InboxEnvelope] | type[Record]) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_release_is_applied_once_read_only_and_in_order(node: Node, us: Node) -> None:
    _pin(node, us)
    first = _send(us, node, 1, _release())
    assert inbox.receive_one(node, first.to_json())[0] == "applied"
    assert inbox.receive_one(node, first.to_json())[0] == "duplicate"  # a resend after a lost ack
    with node.db.reading() as session:
        record = session.get(Record, "us-node:p1")
        assert record is not None and record.read_only and record.tlp == "AMBER" and record.origin_agency == "us_dea"
        assert session.get(Partner, "us-node").inbound_seq == 1  # type: ignore[union-attr]
    with pytest.raises(inbox.GapError):
        inbox.receive_one(node, _send(us, node, 3, _release("p3")).to_json())
    with pytest.raises(env.ReplayError):  # same id, other content
        inbox.receive_one(node, _send(us, node, 1, _release(name="Jane"), envelope_id=first.id).to_json())
    with pytest.raises(env.ReplayError):  # a used sequence under a new id
        inbox.receive_one(node, _send(us, node, 1, _release("p9")).to_json())
    assert _count(node, InboxEnvelope) == 1
    assert _count(node, Record) == 1


@pytest.mark.parametrize("fault", ["tampered", "forged", "unknown", "stale", "future", "elsewhere", "malformed"])
def test_refusals_store_nothing(node: Node, us: Node, fault: str) -> None:
    _pin(node, us)
    good = _send(us, node, 1, _release())
    raw = good.to_json()
    expected: type[env.EnvelopeError] = env.EnvelopeError
    if fault == "tampered":
        raw["payload"]["entities"][0]["properties"]["name"] = ["Someone Else"]
        expected = env.BadSignatureError
    elif fault == "forged":
        raw = _send(us, node, 1, _release(), identity=NodeIdentity(Ed25519PrivateKey.generate())).to_json()
        expected = env.UnknownSenderError
    elif fault == "unknown":
        raw["sender"] = "xx-node"
        expected = env.UnknownSenderError
    elif fault == "stale":
        raw = _send(us, node, 1, _release(), created=env.utc_now() - dt.timedelta(days=3)).to_json()
        expected = env.StaleEnvelopeError
    elif fault == "future":
        raw = _send(us, node, 1, _release(), created=env.utc_now() + dt.timedelta(hours=1)).to_json()
        expected = env.StaleEnvelopeError
    elif fault == "elsewhere":
        raw = env.make(
            us.identity, sender="us-node", recipient="ca-node", type="release", sequence=1, payload=_release()
        ).to_json()
        expected = env.MalformedEnvelopeError
    elif fault == "malformed":
        raw = {"id": 1, "sender": "us-node"}
        expected = env.MalformedEnvelopeError
    with pytest.raises(expected):
        inbox.receive_one(node, raw)
    assert _count(node, InboxEnvelope) == 0
    assert _count(node, Record) == 0


def test_a_partner_cannot_overwrite_our_records_and_bad_payloads_are_refused_whole(node: Node, us: Node) -> None:
    _pin(node, us)
    bad = _release()
    bad["entities"].append({"id": "p2", "schema": "Spaceship", "properties": {}, "alianza:markings": {}})
    with pytest.raises(env.MalformedEnvelopeError):
        inbox.receive_one(node, _send(us, node, 1, bad).to_json())
    assert _count(node, Record) == 0
    no_markings = _release()
    del no_markings["entities"][0]["alianza:markings"]
    with pytest.raises(env.MalformedEnvelopeError, match="markings"):
        inbox.receive_one(node, _send(us, node, 1, no_markings).to_json())


def test_sealed_payloads_open_only_for_the_recipient(node: Node, us: Node) -> None:
    _pin(node, us)
    sealed = env.seal(_release(), node.identity.seal_public_text)
    assert "John Doe" not in str(sealed)
    assert inbox.receive_one(node, _send(us, node, 1, sealed).to_json())[0] == "applied"
    with pytest.raises(env.MalformedEnvelopeError):
        env.unseal(sealed, us.identity)


def test_recall_removes_the_partner_record(node: Node, us: Node) -> None:
    _pin(node, us)
    inbox.receive_one(node, _send(us, node, 1, _release()).to_json())
    inbox.receive_one(
        node,
        _send(us, node, 2, {"release_id": 1, "record_ids": ["p1"], "reason": "withdrawn"}, kind="recall").to_json(),
    )
    with node.db.reading() as session:
        record = session.get(Record, "us-node:p1")
        assert record is not None and record.purged and record.properties == {}


def test_key_rotation_with_overlap(node: Node, us: Node) -> None:
    _pin(node, us)
    old = us.identity
    new, _ = rotate(us.settings.data_dir)
    announcement = _send(
        us, node, 1, {"key": public_key_text(new.public_key), "overlap_days": 0}, kind="key_rotation", identity=old
    )
    inbox.receive_one(node, announcement.to_json())
    assert inbox.receive_one(node, _send(us, node, 2, _release(), identity=new).to_json())[0] == "applied"
    with pytest.raises(env.UnknownSenderError):  # overlap 0: the old key is no longer accepted
        inbox.receive_one(node, _send(us, node, 3, _release("p3"), identity=old).to_json())
    assert set(new.all_public_keys()) == {new.key_id, old.key_id}  # old audit signatures still verify


def test_pull_cursor_is_stateless_and_tamper_proof(node: Node, us: Node) -> None:
    _pin(node, us)
    _pin(us, node)
    with node.db.transaction() as session:
        for i in range(3):
            outbox.enqueue(session, "us-node", "release", i, _release(f"r{i}"))
    page = pull.serve_pull(node, "us-node", None, 2)
    assert [e["sequence"] for e in page["envelopes"]] == [1, 2]
    page2 = pull.serve_pull(node, "us-node", page["next_cursor"], 2)
    assert [e["sequence"] for e in page2["envelopes"]] == [3]
    with node.db.reading() as session:
        assert len(outbox.pending(session, "us-node")) == 1  # reading past 1 and 2 acknowledged them
    body, _, mac = page["next_cursor"].partition(".")
    with pytest.raises(env.MalformedEnvelopeError):
        pull.serve_pull(node, "us-node", f"{body}.{'0' * len(mac)}", 2)
    for raw in page["envelopes"] + page2["envelopes"]:
        assert inbox.receive_one(us, raw)[0] == "applied"


def test_courier_rotates_keys_in_stream_order(node: Node, us: Node) -> None:
    """Messages queued before a rotation and its announcement go out under the old key, later ones under the new."""
    from fastapi.testclient import TestClient

    from alianza.federation import delivery
    from alianza.web.app import create_app

    _pin(node, us)
    _pin(us, node)
    with us.db.transaction() as session:
        partner = session.get(Partner, "mx-node")
        assert partner is not None
        partner.url = "http://testserver"
    old_id = us.identity.key_id
    with us.db.transaction() as session:
        outbox.enqueue(session, "mx-node", "release", 1, _release("before"))
    new, _ = rotate(us.settings.data_dir)
    with us.db.transaction() as session:
        outbox.enqueue(
            session,
            "mx-node",
            "key_rotation",
            new.key_id,
            {"key": public_key_text(new.public_key), "overlap_days": 0, "signed_with": old_id},
        )
    rotated = open_node(us.settings.config_file)
    try:
        with rotated.db.transaction() as session:
            outbox.enqueue(session, "mx-node", "release", 2, _release("after"))
        with TestClient(create_app(node)) as client:
            outcome = delivery.deliver_batch(rotated, "mx-node", client)
        assert (outcome.delivered, outcome.error) == (3, "")
    finally:
        rotated.close()
    with node.db.reading() as session:
        assert session.get(Record, "us-node:before") is not None
        assert session.get(Record, "us-node:after") is not None
        partner = session.get(Partner, "us-node")
        assert partner is not None and set(partner.pinned_keys()) == {new.key_id}


def test_a_resend_built_anew_is_recognised_as_the_same_message(node: Node, us: Node) -> None:
    """The courier rebuilds an envelope at every attempt: new created time, new sealing randomness."""
    _pin(node, us)
    payload = _release()
    first = _send(us, node, 1, env.seal(payload, node.identity.seal_public_text))
    assert inbox.receive_one(node, first.to_json())[0] == "applied"
    again = _send(
        us,
        node,
        1,
        env.seal(payload, node.identity.seal_public_text),
        envelope_id=first.id,
        created=env.utc_now() + dt.timedelta(seconds=5),
    )
    assert again.signature != first.signature
    assert inbox.receive_one(node, again.to_json())[0] == "duplicate"
    assert _count(node, Record) == 1
