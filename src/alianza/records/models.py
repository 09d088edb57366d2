"""The record table: an FtM entity plus its markings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alianza.store.db import Base, utcnow


class Record(Base):
    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    schema: Mapped[str] = mapped_column(String(32), index=True)
    caption: Mapped[str] = mapped_column(String(500))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # markings
    origin_country: Mapped[str] = mapped_column(String(2))
    origin_agency: Mapped[str] = mapped_column(String(64), index=True)
    tlp: Mapped[str] = mapped_column(String(16))
    handling: Mapped[str] = mapped_column(String(2))
    source_reliability: Mapped[str] = mapped_column(String(1))
    info_accuracy: Mapped[str] = mapped_column(String(1))
    legal_basis: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    criminal_predicate: Mapped[str] = mapped_column(Text, default="")
    sensitive_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    sensitive_tied_to_crime: Mapped[bool] = mapped_column(Boolean, default=False)
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    us_person: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_review: Mapped[dt.date] = mapped_column(Date, index=True)
    # provenance
    partner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    originator_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def read_only(self) -> bool:
        """Partner-originated records keep the partner's content and markings: never edited here."""
        return self.partner is not None

    @property
    def purged(self) -> bool:
        return self.purged_at is not None
