"""Input shapes shared by the API, the CLI, the web forms and the importer.

One definition per input means one set of rules: a missing Spanish title is refused the same way whether it
comes from a form, a JSON body or line 12 of a CSV file.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

STATEMENT_DATE = dt.date(2025, 9, 3)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CommitmentInput(_Input):
    title_en: str = Field(min_length=1, max_length=300, description="Title in English")
    title_es: str = Field(min_length=1, max_length=300, description="Title in Spanish")
    description_en: str = ""
    description_es: str = ""
    areas: list[str] = Field(min_length=1)
    country: Literal["US", "MX"]
    lead_agency: str
    supporting_agencies: list[str] = Field(default_factory=list)
    origin_meeting_id: int | None = Field(
        default=None, description="Meeting that agreed it; none = the joint statement"
    )
    origin_date: dt.date | None = Field(default=None, description="Defaults to the statement's or the meeting's date")
    due_date: dt.date
    status: str = "proposed"
    progress: int = Field(default=0, ge=0, le=100)
    indicator_codes: list[str] = Field(default_factory=list)
    source: str = ""
    illustrative: bool = False


class CommitmentPatch(_Input):
    """A change to a commitment; ``version`` is the version the editor saw (optimistic locking)."""

    version: int = Field(ge=1)
    note: str = ""
    title_en: str | None = Field(default=None, min_length=1, max_length=300)
    title_es: str | None = Field(default=None, min_length=1, max_length=300)
    description_en: str | None = None
    description_es: str | None = None
    areas: list[str] | None = Field(default=None, min_length=1)
    lead_agency: str | None = None
    supporting_agencies: list[str] | None = None
    due_date: dt.date | None = None
    status: str | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    indicator_codes: list[str] | None = None
    illustrative: bool | None = None

    def changed_fields(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump(exclude={"version", "note"}).items() if v is not None}


class NoteInput(_Input):
    note: str = Field(min_length=1, max_length=10_000)


class LinkInput(_Input):
    title: str = Field(min_length=1, max_length=300)
    url: str = Field(min_length=1, max_length=2000)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("Use an http:// or https:// address.")
        return value


class MeetingInput(_Input):
    title_en: str = Field(min_length=1, max_length=300)
    title_es: str = Field(min_length=1, max_length=300)
    date: dt.date
    place: str = Field(min_length=1, max_length=300)
    chairs: list[str] = Field(default_factory=list)
    agencies: list[str] = Field(default_factory=list)
    agenda_en: str = ""
    agenda_es: str = ""
    minutes_en: str = ""
    minutes_es: str = ""
    next_meeting_date: dt.date | None = None
    source: str = ""
    illustrative: bool = False


class MeetingPatch(_Input):
    version: int = Field(ge=1)
    title_en: str | None = Field(default=None, min_length=1)
    title_es: str | None = Field(default=None, min_length=1)
    date: dt.date | None = None
    place: str | None = None
    chairs: list[str] | None = None
    agencies: list[str] | None = None
    agenda_en: str | None = None
    agenda_es: str | None = None
    minutes_en: str | None = None
    minutes_es: str | None = None
    next_meeting_date: dt.date | None = None


class DecisionInput(_Input):
    """A meeting decision; it may create a commitment or update one (never both)."""

    text_en: str = Field(min_length=1)
    text_es: str = Field(min_length=1)
    creates: CommitmentInput | None = None
    updates_commitment_id: int | None = None
    updates: CommitmentPatch | None = None
    illustrative: bool = False


class IndicatorInput(_Input):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name_en: str = Field(min_length=1, max_length=300)
    name_es: str = Field(min_length=1, max_length=300)
    unit_en: str = Field(min_length=1, max_length=100)
    unit_es: str = Field(min_length=1, max_length=100)
    area: str
    direction: Literal["increase", "decrease"]
    description_en: str = ""
    description_es: str = ""
    source: str = ""
    baseline_value: float | None = None
    baseline_date: dt.date | None = None
    target_value: float | None = None
    target_date: dt.date | None = None
    target_illustrative: bool = False


class ObservationInput(_Input):
    date: dt.date
    value: float
    source: str = Field(min_length=1, description="The public source of the figure (required)")
    source_url: str = ""
    period_en: str = ""
    period_es: str = ""
    note_en: str = ""
    note_es: str = ""
    illustrative: bool = False
