"""Load and validate the YAML vocabularies."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal, TypeVar, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alianza.errors import ConfigurationError
from alianza.i18n import Lang, pick

DATA_DIR = Path(__file__).parent / "data"


class Bilingual(BaseModel):
    """A text that must exist in both languages."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    en: str = Field(min_length=1)
    es: str = Field(min_length=1)


class Term(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Bilingual
    description: Bilingual | None = None

    def text(self, lang: Lang) -> str:
        return pick(self.label.model_dump(), lang)


class Principle(Term):
    source: str = ""


class Area(Term):
    pass


class Role(Term):
    pass


class Agency(Term):
    country: Literal["US", "MX"]
    abbreviation: str
    parent: str | None = None


class Status(Term):
    terminal: bool = False
    computed: bool = False
    next: tuple[str, ...] = ()

    @field_validator("next", mode="before")
    @classmethod
    def _tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value


class Marking(BaseModel):
    """A marking value (TLP, handling code, grade, legal basis, purpose): official codes keep their own form."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    code: str = Field(min_length=1)
    label: Bilingual
    country: Literal["US", "MX"] | None = None

    def text(self, lang: Lang) -> str:
        return pick(self.label.model_dump(), lang)


T = TypeVar("T", bound=Term | Marking)

MARKING_GROUPS = ("tlp", "handling", "reliability", "accuracy", "legal_bases", "purposes", "release_grounds")


class Vocabulary:
    """All vocabularies of the node, indexed by code."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self.principles: dict[str, Principle] = _load(data_dir / "principles.yaml", "principles", Principle)
        self.areas: dict[str, Area] = _load(data_dir / "areas.yaml", "areas", Area)
        self.agencies: dict[str, Agency] = _load(data_dir / "agencies.yaml", "agencies", Agency)
        self.statuses: dict[str, Status] = _load(data_dir / "statuses.yaml", "statuses", Status)
        self.roles: dict[str, Role] = _load(data_dir / "roles.yaml", "roles", Role)
        self.markings: dict[str, dict[str, Marking]] = {
            group: _load(data_dir / "markings.yaml", group, Marking) for group in MARKING_GROUPS
        }
        self._check_references(data_dir)

    def _check_references(self, data_dir: Path) -> None:
        for agency in self.agencies.values():
            if agency.parent and agency.parent not in self.agencies:
                raise ConfigurationError(
                    "{file}: agency {code} names unknown parent {parent}.",
                    file=str(data_dir / "agencies.yaml"),
                    code=agency.code,
                    parent=agency.parent,
                )
        for status in self.statuses.values():
            for target in status.next:
                if target not in self.statuses or self.statuses[target].computed:
                    raise ConfigurationError(
                        "{file}: status {code} allows a move to {target}, which is not a settable status.",
                        file=str(data_dir / "statuses.yaml"),
                        code=status.code,
                        target=target,
                    )
        for required in ("overdue", "completed", "dropped"):
            if required not in self.statuses:
                raise ConfigurationError(
                    "{file}: the status {code} is required.",
                    file=str(data_dir / "statuses.yaml"),
                    code=required,
                )

    def settable_statuses(self) -> list[Status]:
        return [s for s in self.statuses.values() if not s.computed]

    def agencies_of(self, country: str) -> list[Agency]:
        return [a for a in self.agencies.values() if a.country == country]


def _load(path: Path, key: str, model: type[T]) -> dict[str, T]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError("Vocabulary file {file} cannot be read: {err}", file=str(path), err=str(exc)) from None
    entries = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError("Vocabulary file {file} must have a non-empty list '{key}'.", file=str(path), key=key)
    result: dict[str, T] = {}
    for index, entry in enumerate(entries, start=1):
        try:
            term = cast(T, model.model_validate(entry))
        except ValidationError as exc:
            raise ConfigurationError(
                "Vocabulary file {file}, entry {index}: {err}", file=str(path), index=index, err=str(exc)
            ) from None
        if term.code in result:
            raise ConfigurationError(
                "Vocabulary file {file}: code {code} appears twice.", file=str(path), code=term.code
            )
        result[term.code] = term
    return result


@cache
def vocabulary() -> Vocabulary:
    """The node's vocabularies, loaded once."""
    return Vocabulary()
