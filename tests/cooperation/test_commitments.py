"""Commitments: validation before writing, the timeline, computed overdue, and conflicts between editors."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.cooperation import commitments
from alianza.cooperation.models import Commitment, FollowUp
from alianza.cooperation.schemas import CommitmentInput, CommitmentPatch
from alianza.errors import ConflictError, PermissionDeniedError, ValidationError
from alianza.node import Node

TODAY = dt.date.today()


def _input(**overrides: object) -> CommitmentInput:
    fields: dict[str, object] = {
        "title_en": "Dismantle clandestine tunnels",
        "title_es": "Desmantelar túneles clandestinos",
        "areas": ["border_tunnels"],
        "country": "MX",
        "lead_agency": "mx_defensa",
        "supporting_agencies": ["mx_fgr"],
        "due_date": TODAY + dt.timedelta(days=90),
    }
    fields.update(overrides)
    return CommitmentInput.model_validate(fields)


def _count(node: Node, model: type[Commitment] | type[FollowUp]) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_create_writes_commitment_and_first_followup(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        c = commitments.create_commitment(session, coordinator, _input())
        cid = c.id
    with node.db.reading() as session:
        stored = commitments.get_commitment(session, cid)
        assert stored.origin_date == dt.date(2025, 9, 3)  # the joint statement
        assert [f.kind for f in stored.followups] == ["created"]
        assert stored.followups[0].author is not None
        assert stored.followups[0].author.username == "coord"


def test_every_problem_is_reported_and_nothing_written(node: Node, coordinator: User) -> None:
    bad = _input(
        areas=["border_tunnels", "smuggling"],
        lead_agency="us_dea",
        supporting_agencies=["mx_nope"],
        due_date=dt.date(2025, 8, 1),
        status="overdue",
    )
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        commitments.create_commitment(session, coordinator, bad)
    fields = {d["field"] for d in caught.value.details}
    assert fields == {"areas", "lead_agency", "supporting_agencies", "due_date", "status"}
    assert any("smuggling" in d["message"] for d in caught.value.details)
    assert _count(node, Commitment) == 0
    assert _count(node, FollowUp) == 0


def test_missing_spanish_title_is_refused_by_the_schema() -> None:
    with pytest.raises(Exception, match="title_es"):
        _input(title_es="")


def test_overdue_is_computed_from_the_due_date(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        late = commitments.create_commitment(
            session, coordinator, _input(status="in_progress", due_date=TODAY - dt.timedelta(days=1))
        )
        done = commitments.create_commitment(
            session, coordinator, _input(status="completed", due_date=TODAY - dt.timedelta(days=1))
        )
        soon = commitments.create_commitment(
            session, coordinator, _input(status="agreed", due_date=TODAY + dt.timedelta(days=5))
        )
    assert commitments.effective_status(late) == "overdue"
    assert late.status == "in_progress"  # stored status untouched
    assert commitments.effective_status(done) == "completed"
    assert done.progress == 100
    assert commitments.effective_status(soon) == "agreed"
    assert commitments.is_due_soon(soon)
    assert commitments.effective_status(late, today=TODAY - dt.timedelta(days=2)) == "in_progress"


def test_second_editor_with_stale_version_gets_conflict_with_both_versions(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        cid = commitments.create_commitment(session, coordinator, _input()).id
    with node.db.transaction() as session:
        commitments.update_commitment(
            session, coordinator, cid, CommitmentPatch(version=1, status="agreed", note="Agreed at SIG")
        )
    with pytest.raises(ConflictError) as caught, node.db.transaction() as session:
        commitments.update_commitment(session, coordinator, cid, CommitmentPatch(version=1, progress=50))
    assert caught.value.details["current"]["status"] == "agreed"
    assert caught.value.details["current"]["version"] == 2
    assert caught.value.details["yours"] == {"progress": 50, "version": 1}
    with node.db.reading() as session:
        stored = commitments.get_commitment(session, cid)
        assert (stored.status, stored.progress, stored.version) == ("agreed", 0, 2)
        assert [f.kind for f in stored.followups] == ["created", "updated"]
        assert stored.followups[1].changes == {"status": ["proposed", "agreed"]}
        assert stored.followups[1].note == "Agreed at SIG"


def test_concurrent_writers_racing_on_the_same_version_do_not_both_win(node: Node, coordinator: User) -> None:
    """Both editors read version 1; the database-level version check stops the second flush."""
    with node.db.transaction() as session:
        cid = commitments.create_commitment(session, coordinator, _input()).id
    first = node.db.sessions()
    second = node.db.sessions()
    try:
        commitments.update_commitment(first, coordinator, cid, CommitmentPatch(version=1, status="agreed"))
        # the second session loaded version 1 before the first commits
        commitments.get_commitment(second, cid)
        first.commit()
        with pytest.raises(ConflictError):
            commitments.update_commitment(second, coordinator, cid, CommitmentPatch(version=1, status="dropped"))
    finally:
        second.rollback()
        first.close()
        second.close()
    with node.db.reading() as session:
        assert commitments.get_commitment(session, cid).status == "agreed"


def test_illegal_transition_names_the_allowed_moves(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        cid = commitments.create_commitment(session, coordinator, _input()).id
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        commitments.update_commitment(session, coordinator, cid, CommitmentPatch(version=1, status="completed"))
    assert "agreed, dropped" in caught.value.details[0]["message"]


def test_analyst_may_add_notes_but_not_change_commitments(node: Node, coordinator: User, analyst: User) -> None:
    with node.db.transaction() as session:
        cid = commitments.create_commitment(session, coordinator, _input()).id
    with node.db.transaction() as session:
        commitments.add_note(session, analyst, cid, "FGR opened two investigations.")
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        commitments.update_commitment(session, analyst, cid, CommitmentPatch(version=1, progress=10))
    with pytest.raises(PermissionDeniedError), node.db.transaction() as session:
        commitments.create_commitment(session, analyst, _input())
    assert _count(node, Commitment) == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("tool.exe", b"MZ\x90\x00", "not allowed"),
        ("minutes.pdf", b"<html>not a pdf</html>", "not a .pdf"),
        ("big.txt", b"x" * 2048, "limit"),
        ("empty.csv", b"", "empty"),
    ],
)
def test_bad_uploads_are_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        commitments.check_upload(name, None, data, max_bytes=1024)
