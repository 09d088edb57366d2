"""Sanctions lists, their entries, and the hits of screening records and typed names against them.

A list is loaded whole (``lists.load_list``): its ``version`` is the hash of the files it came from, so the
same files loaded twice change nothing and a new publication is told apart at once. Entries are replaced with
each version. Hits do not point at entry rows (which a reload replaces) but at the list and the entry's own
identifier on it (OFAC's ``ent_num``, the UIF's RFC/CURP, the FtM id), so a hit and the analyst's decision on
it outlive reloads; a hit that no longer comes up is marked ``removed_at``, never deleted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alianza.store.db import Base, utcnow


class SanctionsList(Base):
    """A loaded list (OFAC SDN, the UIF's Lista de Personas Bloqueadas, an FtM export) at its current version."""

    __tablename__ = "sanctions_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[str] = mapped_column(String(16))  # ofac-csv | uif-csv | ftm-jsonl
    version: Mapped[str] = mapped_column(String(64))  # sha256 (hex) of the files' contents
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"name", "sha256", "bytes"}]
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    loaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ListEntry(Base):
    """One listed person or organisation at the list's current version."""

    __tablename__ = "sanctions_list_entries"
    __table_args__ = (UniqueConstraint("list_id", "external_id", name="uq_sanctions_list_entries_list_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_lists.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    schema: Mapped[str] = mapped_column(String(32))  # FtM schema: Person | Organization | Company | Vessel | …
    caption: Mapped[str] = mapped_column(String(500))
    names: Mapped[list[Any]] = mapped_column(JSON, default=list)  # primary name first, then strong aliases
    weak_aliases: Mapped[list[Any]] = mapped_column(JSON, default=list)  # nicknames ("EL MENCHO")
    birth_dates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO, possibly partial
    nationalities: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO 3166 alpha-2
    identifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"type", "value", "country"}]
    programs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    addresses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    remarks: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")  # content hash: changed between versions?


class ScreeningHit(Base):
    """A subject (a stored record, or a name as typed) that scored at or above the threshold against an entry."""

    __tablename__ = "screening_hits"
    __table_args__ = (
        UniqueConstraint("list_id", "subject_key", "entry_external_id", name="uq_screening_hits_list_subject_entry"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("sanctions_lists.id", ondelete="CASCADE"), index=True)
    list_version: Mapped[str] = mapped_column(String(64))  # the version last screened against
    entry_external_id: Mapped[str] = mapped_column(String(64))
    entry_caption: Mapped[str] = mapped_column(String(500), default="")
    entry_schema: Mapped[str] = mapped_column(String(32), default="")
    subject_key: Mapped[str] = mapped_column(String(100), index=True)  # "record:<id>" | "text:<hash>"
    subject_record_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"), nullable=True, index=True)
    subject_text: Mapped[str] = mapped_column(String(500), default="")
    # A typed subject as it was screened (``Subject.as_dict``), so a list change can screen it again; None for records.
    subject: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    algorithm: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    screened_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    screened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)  # match | false_positive
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def active(self) -> bool:
        return self.removed_at is None


SCREENING_TABLES: tuple[Table, ...] = tuple(
    Base.metadata.tables[model.__tablename__] for model in (SanctionsList, ListEntry, ScreeningHit)
)
"""The tables of this module, in creation order (for tests run before their migration exists)."""
