"""Input shapes for records: the entity and its markings."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]


class Markings(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    origin_agency: str
    tlp: Tlp = "AMBER"
    handling: Literal["H0", "H1", "H2", "H3"] = "H0"
    source_reliability: Literal["A", "B", "C", "X"] = "B"
    info_accuracy: Literal["1", "2", "3", "4"] = "2"
    legal_basis: str = Field(min_length=1, description="Code from the legal_bases vocabulary")
    purpose: str = Field(min_length=1, description="Purpose of collection (purposes vocabulary)")
    criminal_predicate: str = Field(default="", description="The reasonable suspicion of criminal activity")
    sensitive_categories: list[Literal["political", "religious", "social"]] = Field(default_factory=list)
    sensitive_tied_to_crime: bool = False
    personal_data: bool | None = Field(default=None, description="Default: true for persons and their identifiers")
    us_person: bool = False
    retention_review: dt.date | None = Field(default=None, description="Default: five years from today")


class RecordInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(alias="schema")
    properties: dict[str, list[str] | str]
    markings: Markings
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")


class RecordPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    properties: dict[str, list[str] | str] | None = None
    markings: Markings | None = None
