"""Meetings of the implementation group and the decisions that create or update commitments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.cooperation import commitments
from alianza.cooperation.models import Decision, Meeting
from alianza.cooperation.schemas import DecisionInput, MeetingInput, MeetingPatch
from alianza.errors import ConflictError, NotFoundError, ValidationError, problem
from alianza.vocab import vocabulary


def _check(data: MeetingInput | MeetingPatch, date: dt.date | None) -> None:
    problems: list[dict[str, Any]] = []
    for code in data.agencies or []:
        if code not in vocabulary().agencies:
            problems.append(
                problem("agencies", "Unknown agency code '{code}'; list them with 'alianza vocab agencies'.", code=code)
            )
    if data.next_meeting_date is not None and date is not None and data.next_meeting_date <= date:
        problems.append(problem("next_meeting_date", "The next meeting must come after this one."))
    if problems:
        raise ValidationError(
            "The meeting was not saved: {count} problem(s) to fix.", details=problems, count=len(problems)
        )


def create_meeting(session: Session, actor: User, data: MeetingInput) -> Meeting:
    require(actor, Permission.EDIT_COOPERATION)
    _check(data, data.date)
    meeting = Meeting(**data.model_dump())
    session.add(meeting)
    session.flush()
    return meeting


def update_meeting(session: Session, actor: User, meeting_id: int, patch: MeetingPatch) -> Meeting:
    require(actor, Permission.EDIT_COOPERATION)
    meeting = get_meeting(session, actor, meeting_id)
    if patch.version != meeting.version:
        raise ConflictError(
            "Someone else saved this meeting (now version {current}) after you opened version {yours}; "
            "review both versions and save again.",
            current=meeting.version,
            yours=patch.version,
            details={
                "current": {
                    "version": meeting.version,
                    "minutes_en": meeting.minutes_en,
                    "minutes_es": meeting.minutes_es,
                },
                "yours": patch.model_dump(mode="json", exclude_none=True),
            },
        )
    _check(patch, patch.date or meeting.date)
    for field, value in patch.model_dump(exclude={"version"}, exclude_none=True).items():
        setattr(meeting, field, value)
    session.flush()
    return meeting


def get_meeting(session: Session, actor: User, meeting_id: int) -> Meeting:
    require(actor, Permission.READ_COOPERATION)
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFoundError("No meeting with id {id}.", id=meeting_id)
    return meeting


def list_meetings(session: Session, actor: User) -> list[Meeting]:
    require(actor, Permission.READ_COOPERATION)
    return list(session.scalars(select(Meeting).order_by(Meeting.date)))


def next_meeting(session: Session, today: dt.date | None = None) -> tuple[dt.date, Meeting | None] | None:
    """The next meeting on the calendar: a scheduled meeting, or the date the last one set for the next."""
    today = today or dt.date.today()
    upcoming = session.scalar(select(Meeting).where(Meeting.date >= today).order_by(Meeting.date))
    if upcoming is not None:
        return upcoming.date, upcoming
    announced = session.scalar(
        select(Meeting.next_meeting_date)
        .where(Meeting.next_meeting_date.is_not(None), Meeting.next_meeting_date >= today)
        .order_by(Meeting.next_meeting_date)
    )
    return (announced, None) if announced else None


def add_decision(session: Session, actor: User, meeting_id: int, data: DecisionInput) -> Decision:
    """Record a decision; when it creates or updates a commitment, that happens in the same transaction."""
    require(actor, Permission.EDIT_COOPERATION)
    meeting = get_meeting(session, actor, meeting_id)
    if data.creates is not None and (data.updates is not None or data.updates_commitment_id is not None):
        raise ValidationError("A decision either creates a commitment or updates one, not both.")
    if (data.updates is None) != (data.updates_commitment_id is None):
        raise ValidationError("To update a commitment, give both its id and the change.")
    note = f"{data.text_en} / {data.text_es}"
    commitment_id = None
    kind = "notes"
    if data.creates is not None:
        created_input = data.creates.model_copy(update={"origin_meeting_id": meeting.id})
        created = commitments.create_commitment(session, actor, created_input, meeting_id=meeting.id, note=note)
        commitment_id, kind = created.id, "creates"
    elif data.updates is not None and data.updates_commitment_id is not None:
        target = commitments.get_commitment(session, data.updates_commitment_id)
        if target.origin_date > meeting.date:
            raise ValidationError(
                "Commitment {id} did not exist yet on {date}.", id=target.id, date=meeting.date.isoformat()
            )
        patch = data.updates.model_copy(update={"note": data.updates.note or note})
        commitments.update_commitment(
            session,
            actor,
            target.id,
            patch,
            meeting_id=meeting.id,
            kind="decision",
            illustrative=data.illustrative,
        )
        commitment_id, kind = target.id, "updates"
    decision = Decision(
        meeting_id=meeting.id,
        position=len(meeting.decisions),
        text_en=data.text_en,
        text_es=data.text_es,
        kind=kind,
        commitment_id=commitment_id,
    )
    session.add(decision)
    session.flush()
    return decision
