"""What the release gate needs to know about a record and a proposed release.

The gate never reads the database: the records and release code hand it these two value objects, so a
decision can be replayed from the audit log, explained to a reviewer and tested with a plain table. The
fields are the legal facts the policy files test, not the record's content; a wrong value would make a
forbid silently miss, so every closed vocabulary is checked on construction and a bad value is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from alianza.errors import ValidationError, problem

Country = Literal["US", "MX"]
Tlp = Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
HandlingCode = Literal["H0", "H1", "H2", "H3"]
SourceReliability = Literal["A", "B", "C", "X"]
InfoAccuracy = Literal[1, 2, 3, 4]
SensitiveCategory = Literal["political", "religious", "social"]

COUNTRIES: tuple[str, ...] = get_args(Country)
TLPS: tuple[str, ...] = get_args(Tlp)
HANDLING_CODES: tuple[str, ...] = get_args(HandlingCode)
SOURCE_RELIABILITIES: tuple[str, ...] = get_args(SourceReliability)
INFO_ACCURACIES: tuple[int, ...] = get_args(InfoAccuracy)
SENSITIVE_CATEGORIES: tuple[str, ...] = get_args(SensitiveCategory)

#: Release legal bases the shipped policy files recognise. Other values are allowed (a framework may
#: add grounds) but count as "no ground" for the rules that list grounds.
US_PRIVACY_ACT_EXCEPTIONS = ("routine_use", "law_enforcement_request", "health_or_safety", "court_order")
MX_TRANSFER_GROUNDS = (
    "law_or_treaty",
    "compatible_authorities",
    "criminal_investigation",
    "competent_authority_request",
)

#: Purposes the shipped rules give meaning to (Art. 21 and the criminal-investigation ground test for the
#: first two). Any other snake_case purpose is allowed; H0 compares purposes literally.
INVESTIGATIVE_PURPOSES = ("criminal_investigation", "prosecution")


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """The legal facts of one record proposed for release.

    ``purpose`` is the purpose of collection (handling code H0 compares it with the release's purpose);
    ``legal_basis`` is the basis on which the record was collected or received. ``partner_originated`` is
    true for records this node received from the partner (read-only here, subject to the third-party
    rule); ``originator_consent`` is the originator's consent to pass them on. ``sensitive_categories``
    names the political, religious or social information the record holds and ``sensitive_tied_to_crime``
    whether it directly relates to criminal conduct (28 CFR 23.20(b)). ``retention_review`` is the date by
    which the record must be reviewed and validated or purged (at most five years after entry).
    """

    record_id: str
    schema: str
    tlp: Tlp
    handling: HandlingCode
    source_reliability: SourceReliability
    info_accuracy: InfoAccuracy
    origin_country: Country
    origin_agency: str
    partner_originated: bool
    originator_consent: bool
    personal_data: bool
    us_person: bool
    legal_basis: str
    purpose: str
    criminal_predicate: bool
    sensitive_categories: tuple[SensitiveCategory, ...]
    sensitive_tied_to_crime: bool
    retention_review: dt.date

    def __post_init__(self) -> None:
        _freeze_tuples(self)
        problems = _check_types(self)
        problems += _check_choice("tlp", self.tlp, TLPS)
        problems += _check_choice("handling", self.handling, HANDLING_CODES)
        problems += _check_choice("source_reliability", self.source_reliability, SOURCE_RELIABILITIES)
        problems += _check_choice("origin_country", self.origin_country, COUNTRIES)
        if self.info_accuracy not in INFO_ACCURACIES or isinstance(self.info_accuracy, bool):
            problems.append(
                _problem(
                    "info_accuracy",
                    "must be one of {allowed}, not {value}",
                    allowed="1, 2, 3, 4",
                    value=repr(self.info_accuracy),
                )
            )
        for category in self.sensitive_categories:
            problems += _check_choice("sensitive_categories", category, SENSITIVE_CATEGORIES)
        if not self.record_id:
            problems.append(_problem("record_id", "must not be empty"))
        _raise_if(problems, "record")


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    """The legal facts of a proposed release, the same for every record in it.

    ``recipient_agency`` is the agency the release is addressed to; ``recipient_organisation`` is the
    organisation whose members will have access to it: the agency itself, or a wider body such as a task
    force or fusion centre (TLP:AMBER+STRICT allows only the former). ``legal_basis`` is the ground of the
    release: a Privacy Act exception for the US node (routine_use, law_enforcement_request,
    health_or_safety, court_order), a transfer ground of the 2025 general law for the Mexican node
    (law_or_treaty, compatible_authorities, criminal_investigation, competent_authority_request).
    ``foreign_initiated`` marks a release that serves an action a foreign government started, and
    ``authorisation_record`` names the Mexican State's authorisation for it. ``onward_permission`` is the
    originator's permission for this use (H1 judicial use) or onward sharing (H2). ``fields`` are the fields
    proposed for release; an empty tuple means the whole record.
    """

    recipient_country: Country
    recipient_agency: str
    recipient_organisation: str
    recipient_law_enforcement: bool
    recipient_equivalent_rules: bool
    purpose: str
    legal_basis: str
    need_to_know: bool
    right_to_know: bool
    imminent_danger: bool = False
    foreign_initiated: bool = False
    authorisation_record: str | None = None
    data_subject_consent: bool = False
    judicial_use: bool = False
    onward_permission: bool = False
    fields: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _freeze_tuples(self)
        if self.authorisation_record is not None and not self.authorisation_record.strip():
            # A blank authorisation is no authorisation (CPEUM Art. 40); keep one spelling of "none".
            object.__setattr__(self, "authorisation_record", None)
        problems = _check_types(self)
        problems += _check_choice("recipient_country", self.recipient_country, COUNTRIES)
        for name in ("recipient_agency", "recipient_organisation", "purpose"):
            if not getattr(self, name):
                problems.append(_problem(name, "must not be empty"))
        _raise_if(problems, "release")


def _freeze_tuples(obj: Any) -> None:
    """Accept lists from YAML and JSON callers but store tuples, so the facts stay hashable."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))


def _check_types(obj: Any) -> list[dict[str, Any]]:
    problems = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        annotation = str(f.type)  # a string: this module postpones the evaluation of annotations
        if annotation == "bool" and not isinstance(value, bool):
            problems.append(_problem(f.name, "must be true or false, not {value}", value=repr(value)))
        elif annotation == "str" and not isinstance(value, str):
            problems.append(_problem(f.name, "must be text, not {value}", value=repr(value)))
        elif annotation == "dt.date" and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            problems.append(_problem(f.name, "must be a date (YYYY-MM-DD), not {value}", value=repr(value)))
        elif annotation == "str | None" and not isinstance(value, str | None):
            problems.append(_problem(f.name, "must be text or empty, not {value}", value=repr(value)))
        elif annotation.startswith("tuple[") and not isinstance(value, tuple):
            problems.append(_problem(f.name, "must be a list, not {value}", value=repr(value)))
        elif annotation.startswith("tuple[") and annotation != "tuple[SensitiveCategory, ...]":
            problems += [
                _problem(f.name, "must hold text, not {value}", value=repr(v)) for v in value if not isinstance(v, str)
            ]
    return problems


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> list[dict[str, Any]]:
    if value in allowed:
        return []
    return [
        _problem(name, "must be one of {allowed}, not {value}", allowed=", ".join(map(str, allowed)), value=repr(value))
    ]


def _problem(name: str, template: str, **params: Any) -> dict[str, Any]:
    return problem(name, template, **params)


def _raise_if(problems: list[dict[str, Any]], what: str) -> None:
    if problems:
        raise ValidationError(
            "The {what} facts are not valid: {count} problem(s).", details=problems, what=what, count=len(problems)
        )
