"""Releases, their items, recalls and partner requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alianza.accounts.models import User
from alianza.store.db import Base, utcnow


class Release(Base):
    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_node: Mapped[str] = mapped_column(String(64))
    recipient_country: Mapped[str] = mapped_column(String(2))
    recipient_agency: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    justification: Mapped[str] = mapped_column(Text, default="")
    # pending_review → approved (queued) | refused; approved → recalled (partly or wholly)
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # the gate's answer: allow | needs_approval
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    obligations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    redactions: Mapped[list[str]] = mapped_column(JSON, default=list)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), nullable=True)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    items: Mapped[list[ReleaseItem]] = relationship(
        back_populates="release", order_by="ReleaseItem.id", cascade="all, delete-orphan"
    )
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id], lazy="joined")
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id], lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ReleaseItem(Base):
    """One record of a release; ``payload`` is what was sent (after redaction), fixed at approval."""

    __tablename__ = "release_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    recalled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    release: Mapped[Release] = relationship(back_populates="items")


class Recall(Base):
    __tablename__ = "recalls"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    record_ids: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    recalled_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recalled_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class InfoRequest(Base):
    """A partner's request for information (from a match or a case), answered by a release or a reasoned refusal."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(String(64))
    requesting_agency: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(128), default="")  # case number or match id
    purpose: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(64), default="")
    record_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # our records the request is about
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | refused
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
