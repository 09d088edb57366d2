"""The analyst's review of entity-resolution candidates: one row per record pair, with the model's evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alianza.store.db import Base, utcnow

CONFIRMED = "confirmed"
REJECTED = "rejected"


class MatchDecision(Base):
    """A candidate pair of records and, once an analyst has looked, whether they are the same entity.

    ``left_record_id`` < ``right_record_id`` always, so a pair has one row whichever way it was found. The score,
    weight and explanation are the model's at the last ``candidates`` run (``algorithm`` names which model);
    the decision stays with the pair when the model is re-run.
    """

    __tablename__ = "match_decisions"
    __table_args__ = (UniqueConstraint("left_record_id", "right_record_id", name="uq_match_decisions_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    left_record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    right_record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)  # match probability
    weight: Mapped[float] = mapped_column(Float)  # match weight (log2 Bayes factor incl. prior)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)  # confirmed | rejected
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def pending(self) -> bool:
        return self.decision is None
