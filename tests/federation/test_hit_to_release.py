"""Two nodes, in process over the real HTTP app: a private hit becomes a request, and the request a release.

The MX node offers two persons; the US node holds one of them under another spelling and answers with that hit
only; the MX analyst turns the hit into a request; the US node registers it against its own record, a US analyst
answers it with a release through the US release gate and a US reviewer approves it; the MX node receives it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import ConflictError
from alianza.federation import delivery, outbox
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner
from alianza.i18n import gettext_for
from alianza.matching import hitnohit
from alianza.matching.private_models import MatchHit
from alianza.node import Node
from alianza.records import service as records
from alianza.records.models import Record
from alianza.records.schemas import RecordInput
from alianza.releases import service as releases
from alianza.releases.models import InfoRequest
from alianza.web.app import create_app
from tests.conftest import make_user
from tests.support.federation import pin as _pin


def _person(node: Node, actor: User, name: str, born: str, agency: str, basis: str) -> str:
    data = RecordInput.model_validate(
        {
            "schema": "Person",
            "properties": {"name": [name], "birthDate": [born]},
            "markings": {
                "origin_agency": agency,
                "legal_basis": basis,
                "purpose": "criminal_investigation",
                "criminal_predicate": "Investigation of fentanyl trafficking",
            },
        }
    )
    with node.db.transaction() as session:
        return records.create_record(session, actor, node.trail, node.settings.country, data).id


def _deliver(sender: Node, receiver: Node) -> int:
    with TestClient(create_app(receiver)) as client:
        outcome = delivery.deliver_batch(sender, receiver.settings.federation_id, client)
    assert outcome.error == "", outcome.error
    return outcome.delivered


def _route_to_testserver(node: Node) -> None:
    with node.db.transaction() as session:
        for partner in session.scalars(select(Partner)):
            partner.url = "http://testserver"


def test_a_hit_becomes_a_request_and_then_a_release(node: Node, us: Node, analyst: User) -> None:
    _pin(node, us)
    _pin(us, node)
    _route_to_testserver(node)
    _route_to_testserver(us)
    us_analyst = make_user(us, "dea", "analyst", "us_dea")
    us_reviewer = make_user(us, "doj", "legal_reviewer", "us_doj")
    held = _person(us, us_analyst, "PEREZ LOPEZ, Juan", "1980-05-01", "us_dea", "us_title21")
    wanted = _person(node, analyst, "Juan Pérez López", "1980-05-01", "mx_fgr", "mx_cnpp")
    other = _person(node, analyst, "Ana Gutiérrez Soto", "1991-11-23", "mx_fgr", "mx_cnpp")

    with node.db.transaction() as session:
        hitnohit.send_offer(session, node, analyst, "us-node", [wanted, other])
    assert _deliver(node, us) == 1  # the offer
    assert _deliver(us, node) == 1  # the answer: hits only
    with node.db.reading() as session:
        found = hitnohit.hits(session, analyst)
        assert [(h.record_id, h.partner) for h in found] == [(wanted, "us-node")]
        hit_id = found[0].id
        assert held not in str(found[0].hit_ref)  # the holder's record id never crosses

    with node.db.transaction() as session:
        hitnohit.request_from_hit(
            session,
            node,
            analyst,
            hit_id,
            purpose="criminal_investigation",
            subject="Antecedentes del sujeto coincidente",
        )
    with node.db.reading() as session:  # the asker's hit points at the request message, set in that transaction
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "request")).one()
        assert session.get(MatchHit, hit_id).request_message_id == sent.id  # type: ignore[union-attr]
        (listed,) = hitnohit.listed_hits(session, analyst)
        assert listed.request is not None and listed.request.id == sent.id
        envelope_id, reference = sent.envelope_id, sent.reference
    with pytest.raises(ConflictError) as again, node.db.transaction() as session:
        hitnohit.request_from_hit(session, node, analyst, hit_id, purpose="criminal_investigation", subject="Otra vez")
    assert again.value.render(gettext_for("es")).startswith("Ya se envió una solicitud sobre esta coincidencia")
    assert "reference" in again.value.render() and again.value.details["request"]["envelope_id"] == envelope_id
    with node.db.reading() as session:
        assert len(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "request")).all()) == 1
    assert _deliver(node, us) == 1
    with us.db.reading() as session:
        request = session.scalars(select(InfoRequest)).one()
        assert request.record_ids == [held]
        assert request.partner == "mx-node"
        request_id = request.id
        holder_hit = session.scalars(select(MatchHit).where(MatchHit.side == "holder")).one()
        assert holder_hit.request_id == request_id  # the holder's hit → the request it became

    # A second request citing the same hit (an older asker that did not refuse it) is acknowledged as the first.
    with node.db.transaction() as session:
        outbox.enqueue(
            session,
            "us-node",
            "request",
            reference,
            {
                "requesting_agency": "mx_fgr",
                "subject": "Otra vez",
                "purpose": "criminal_investigation",
                "reference": reference,
            },
        )
    assert _deliver(node, us) == 1
    with us.db.reading() as session:
        assert [r.id for r in session.scalars(select(InfoRequest))] == [request_id]
        repeated = session.scalars(select(AuditEntry).where(AuditEntry.action == "request.repeated")).one()
        assert repeated.object_id == str(request_id)

    release = releases.propose(
        us.db,
        us_analyst,
        us.trail,
        us.framework,
        releases.ReleaseProposal(
            record_ids=[held],
            recipient_node="mx-node",
            recipient_agency="mx_fgr",
            purpose="criminal_investigation",
            legal_basis="law_enforcement_request",
            request_id=request_id,
        ),
    )
    with us.db.transaction() as session:
        releases.review(
            session,
            us_reviewer,
            us.trail,
            us.framework,
            release.id,
            approve=True,
            note="Request under the MLAT; (b)(7) written request on file",
            version=release.version,
        )
    assert _deliver(us, node) >= 1
    with node.db.reading() as session:
        received = session.get(Record, f"us-node:{held}")
        assert received is not None and received.read_only
        assert received.properties["name"] == ["PEREZ LOPEZ, Juan"]
    with us.db.reading() as session:
        assert session.get(InfoRequest, request_id).status == "answered"  # type: ignore[union-attr]
        holder_hits = session.scalars(select(MatchHit).where(MatchHit.side == "holder")).all()
        assert [h.record_id for h in holder_hits] == [held]


def test_a_request_citing_an_unknown_hit_is_refused(node: Node, us: Node, analyst: User) -> None:
    from alianza.federation import envelope as env
    from alianza.federation import inbox

    _pin(us, node)
    forged = env.make(
        node.identity,
        sender="mx-node",
        recipient="us-node",
        type="request",
        sequence=1,
        payload={
            "requesting_agency": "mx_fgr",
            "subject": "fishing",
            "purpose": "criminal_investigation",
            "reference": "match:nope:abcdef",
        },
    )
    with pytest.raises(env.MalformedEnvelopeError):
        inbox.receive_one(us, forged.to_json())
    with us.db.reading() as session:
        assert session.scalars(select(InfoRequest)).all() == []
