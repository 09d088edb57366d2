"""Indicators: what the mechanism measures, each observation with its public source, and progress."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.cooperation.models import Indicator, Observation
from alianza.cooperation.schemas import IndicatorInput, ObservationInput
from alianza.errors import NotFoundError, ValidationError, problem
from alianza.vocab import vocabulary


def create_indicator(session: Session, actor: User, data: IndicatorInput) -> Indicator:
    require(actor, Permission.EDIT_COOPERATION)
    problems: list[dict[str, object]] = []
    if data.area not in vocabulary().areas:
        problems.append(problem("area", "Unknown area code '{code}'.", code=data.area))
    if session.scalar(select(Indicator.id).where(Indicator.code == data.code)) is not None:
        problems.append(problem("code", "An indicator with code '{code}' already exists.", code=data.code))
    if (data.target_value is None) != (data.target_date is None):
        problems.append(problem("target_value", "Give both a target value and a target date, or neither."))
    if problems:
        raise ValidationError(
            "The indicator was not saved: {count} problem(s) to fix.", details=problems, count=len(problems)
        )
    indicator = Indicator(**data.model_dump())
    session.add(indicator)
    session.flush()
    return indicator


def get_indicator(session: Session, actor: User, code: str) -> Indicator:
    require(actor, Permission.READ_COOPERATION)
    indicator = session.scalar(select(Indicator).where(Indicator.code == code))
    if indicator is None:
        raise NotFoundError("No indicator with code '{code}'.", code=code)
    return indicator


def list_indicators(session: Session, actor: User) -> list[Indicator]:
    require(actor, Permission.READ_COOPERATION)
    return list(session.scalars(select(Indicator).order_by(Indicator.area, Indicator.code)))


def observe(session: Session, actor: User, code: str, data: ObservationInput) -> Observation:
    """Add an observation; one per indicator and date, so a re-import cannot double-count."""
    require(actor, Permission.EDIT_COOPERATION)
    indicator = get_indicator(session, actor, code)
    if any(o.date == data.date for o in indicator.observations):
        raise ValidationError(
            "Indicator '{code}' already has an observation on {date}; correct that one instead of adding another.",
            code=code,
            date=data.date.isoformat(),
        )
    observation = Observation(indicator_id=indicator.id, created_by_id=actor.id, **data.model_dump())
    session.add(observation)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ValidationError(
            "Indicator '{code}' already has an observation on {date}.", code=code, date=data.date.isoformat()
        ) from exc
    session.refresh(indicator)
    return observation


@dataclass(frozen=True)
class Progress:
    """Where an indicator stands: latest value, change since baseline, and the share of the way to target."""

    latest: Observation | None
    previous: Observation | None
    change: float | None  # latest - baseline (or - first observation when no baseline)
    fraction: float | None  # 0..1 of the way from baseline to target; None without a target
    improving: bool | None  # whether the last move went in the indicator's good direction


def progress(indicator: Indicator, until: dt.date | None = None) -> Progress:
    observations = [o for o in indicator.observations if until is None or o.date <= until]
    if not observations:
        return Progress(None, None, None, None, None)
    latest = observations[-1]
    previous = observations[-2] if len(observations) > 1 else None
    base = indicator.baseline_value if indicator.baseline_value is not None else observations[0].value
    change = latest.value - base
    fraction = None
    if indicator.target_value is not None and indicator.target_value != base:
        fraction = max(0.0, min(1.0, (latest.value - base) / (indicator.target_value - base)))
    improving = None
    if previous is not None and previous.value != latest.value:
        went_up = latest.value > previous.value
        improving = went_up == (indicator.direction == "increase")
    return Progress(latest, previous, change, fraction, improving)
