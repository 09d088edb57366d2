"""The release gate end to end in the domain: decision recorded, four eyes, redaction, outbox, audit, recall."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.errors import PermissionDeniedError, ValidationError
from alianza.federation import outbox
from alianza.federation.outbox import OutboxMessage
from alianza.node import Node
from alianza.records import service as records
from alianza.records.schemas import Markings, RecordInput
from alianza.releases import service as releases
from alianza.releases.models import Release
from tests.conftest import make_user


def _record(node: Node, analyst: User, *, tlp: str = "AMBER", name: str = "Juan Pérez López") -> str:
    data = RecordInput.model_validate(
        {
            "schema": "Person",
            "properties": {"name": name, "birthDate": "1980-05-01", "nationality": "mx"},
            "markings": Markings(
                origin_agency="mx_fgr",
                tlp=tlp,  # type: ignore[arg-type]
                legal_basis="mx_cnpp",
                purpose="criminal_investigation",
                criminal_predicate="Carpeta de investigación FED/123/2025",
            ),
        }
    )
    with node.db.transaction() as session:
        return records.create_record(session, analyst, node.trail, node.settings.country, data).id


def _proposal(record_ids: list[str], **overrides: object) -> releases.ReleaseProposal:
    fields: dict[str, object] = {
        "record_ids": record_ids,
        "recipient_node": "us-node",
        "recipient_agency": "us_dea",
        "purpose": "criminal_investigation",
        "legal_basis": "criminal_investigation",
    }
    fields.update(overrides)
    return releases.ReleaseProposal(**fields)  # type: ignore[arg-type]


def _count(node: Node, model: type[Release] | type[OutboxMessage] | type[AuditEntry]) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def reviewer(node: Node) -> User:
    return make_user(node, "legal", "legal_reviewer", "mx_fgr")


def test_release_needs_a_recorded_decision_and_another_persons_approval(
    node: Node, analyst: User, reviewer: User
) -> None:
    rid = _record(node, analyst)
    release = releases.propose(node.db, analyst, node.trail, node.framework, _proposal([rid]))
    assert release.status == "pending_review"
    assert release.rules, "the deciding rules are kept with the release"
    assert _count(node, OutboxMessage) == 0, "nothing leaves before approval"
    with node.db.reading() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert "policy.decision" in actions and "release.proposed" in actions

    # the proposer cannot approve, even if also a reviewer
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        releases.review(session, analyst, node.trail, node.framework, release.id, approve=True, note="ok", version=1)

    with node.db.transaction() as session:
        done = releases.review(
            session, reviewer, node.trail, node.framework, release.id, approve=True, note="Art. 40 ok", version=1
        )
        assert done.status == "approved"
    with node.db.reading() as session:
        queued = outbox.pending(session, "us-node")
        assert [m.kind for m in queued] == ["release"]
        entity = queued[0].payload["entities"][0]
        assert entity["id"] == rid
        assert entity["alianza:markings"]["tlp"] == "AMBER"
        disclosed = session.scalars(select(AuditEntry).where(AuditEntry.action == "record.disclosed")).all()
        assert [(d.object_id, d.details["recipient_agency"]) for d in disclosed] == [(rid, "us_dea")]
        assert node.trail.verify(session).ok


def test_tlp_red_is_refused_with_reasons_and_nothing_but_the_decision_written(node: Node, analyst: User) -> None:
    rid = _record(node, analyst, tlp="RED")
    before = _count(node, AuditEntry)
    with pytest.raises(releases.PolicyDeniedError) as caught:
        releases.propose(node.db, analyst, node.trail, node.framework, _proposal([rid]))
    assert any("RED" in d["rule"] for d in caught.value.details)
    assert all(d["reason_es"] for d in caught.value.details)
    assert _count(node, Release) == 0
    assert _count(node, AuditEntry) == before + 1  # the denial itself is audited
    with node.db.reading() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last is not None and last.details["outcome"] == "deny"


def test_crash_between_approval_and_queueing_leaves_nothing_half_done(
    node: Node, analyst: User, reviewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _record(node, analyst)
    release = releases.propose(node.db, analyst, node.trail, node.framework, _proposal([rid]))
    audit_before = _count(node, AuditEntry)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(outbox, "enqueue", crash)
    with pytest.raises(RuntimeError), node.db.transaction() as session:
        releases.review(session, reviewer, node.trail, node.framework, release.id, approve=True, note="ok", version=1)
    with node.db.reading() as session:
        again = session.get(Release, release.id)
        assert again is not None and again.status == "pending_review"
        assert all(item.payload is None for item in again.items)
    assert _count(node, OutboxMessage) == 0
    assert _count(node, AuditEntry) == audit_before


def test_refusal_needs_a_reason_and_recall_travels_through_the_outbox(
    node: Node, analyst: User, reviewer: User
) -> None:
    rid = _record(node, analyst)
    first = releases.propose(node.db, analyst, node.trail, node.framework, _proposal([rid]))
    with pytest.raises(ValidationError), node.db.transaction() as session:
        releases.review(session, reviewer, node.trail, node.framework, first.id, approve=False, note="", version=1)
    with node.db.transaction() as session:
        releases.review(session, reviewer, node.trail, node.framework, first.id, approve=True, note="ok", version=1)
    with node.db.transaction() as session:
        releases.recall(session, analyst, node.trail, first.id, "Source withdrew the information")
    with node.db.reading() as session:
        kinds = [m.kind for m in outbox.pending(session)]
        assert kinds == ["release", "recall"]
        assert session.get(Release, first.id).status == "recalled"  # type: ignore[union-attr]
    with pytest.raises(ValidationError), node.db.transaction() as session:
        releases.recall(session, analyst, node.trail, first.id, "again")
