"""What the coordinators see first: commitments by area and status, overdue, due soon, next meeting, trends."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import indicators as indicator_service
from alianza.cooperation.meetings import next_meeting
from alianza.cooperation.models import Commitment, Indicator, Meeting


@dataclass
class Dashboard:
    today: dt.date
    total: int
    by_area_status: dict[str, Counter[str]] = field(default_factory=dict)
    by_status: Counter[str] = field(default_factory=Counter)
    overdue: list[Commitment] = field(default_factory=list)
    due_soon: list[Commitment] = field(default_factory=list)
    next_meeting_date: dt.date | None = None
    next_meeting: Meeting | None = None
    indicators: list[Indicator] = field(default_factory=list)
    recent: list[tuple[Commitment, str]] = field(default_factory=list)


def build(session: Session, actor: User, today: dt.date | None = None) -> Dashboard:
    today = today or dt.date.today()
    items = commitment_service.list_commitments(session, actor, today=today)
    board = Dashboard(today=today, total=len(items))
    for c in items:
        status = commitment_service.effective_status(c, today)
        board.by_status[status] += 1
        for area in c.areas:
            board.by_area_status.setdefault(area, Counter())[status] += 1
        if status == "overdue":
            board.overdue.append(c)
        elif commitment_service.is_due_soon(c, today):
            board.due_soon.append(c)
    upcoming = next_meeting(session, today)
    if upcoming is not None:
        board.next_meeting_date, board.next_meeting = upcoming
    board.indicators = indicator_service.list_indicators(session, actor)
    recent = sorted(items, key=lambda c: c.updated_at, reverse=True)[:5]
    board.recent = [(c, commitment_service.effective_status(c, today)) for c in recent]
    return board
