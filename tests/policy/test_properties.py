"""Properties over random facts: TLP:RED always denies, and a release is never more permissive than its records."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from alianza.policy import RecordFacts, ReleaseFacts, decide, decide_many, load_framework
from alianza.policy.decision import SEVERITY
from alianza.policy.facts import (
    COUNTRIES,
    HANDLING_CODES,
    INFO_ACCURACIES,
    SENSITIVE_CATEGORIES,
    SOURCE_RELIABILITIES,
    TLPS,
)

AGENCIES = st.sampled_from(["us_dea", "us_fbi", "us_atf", "mx_fgr", "mx_aic", "mx_sspc", "mx_uif", "other"])
PURPOSES = st.sampled_from(["criminal_investigation", "prosecution", "border_security", "financial_intelligence"])
BASES = st.sampled_from(
    ["", "routine_use", "law_enforcement_request", "health_or_safety", "court_order", "law_or_treaty",
     "compatible_authorities", "criminal_investigation", "competent_authority_request", "other"]
)  # fmt: skip
DATES = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))

records = st.builds(
    RecordFacts,
    record_id=st.text(min_size=1, max_size=20),
    schema=st.sampled_from(["Person", "Company", "Payment", "Firearm"]),
    tlp=st.sampled_from(TLPS),
    handling=st.sampled_from(HANDLING_CODES),
    source_reliability=st.sampled_from(SOURCE_RELIABILITIES),
    info_accuracy=st.sampled_from(INFO_ACCURACIES),
    origin_country=st.sampled_from(COUNTRIES),
    origin_agency=AGENCIES,
    partner_originated=st.booleans(),
    originator_consent=st.booleans(),
    personal_data=st.booleans(),
    us_person=st.booleans(),
    legal_basis=BASES,
    purpose=PURPOSES,
    criminal_predicate=st.booleans(),
    sensitive_categories=st.lists(st.sampled_from(SENSITIVE_CATEGORIES), unique=True).map(tuple),
    sensitive_tied_to_crime=st.booleans(),
    retention_review=DATES,
)
releases = st.builds(
    ReleaseFacts,
    recipient_country=st.sampled_from(COUNTRIES),
    recipient_agency=AGENCIES,
    recipient_organisation=st.one_of(AGENCIES, st.just("task_force")),
    recipient_law_enforcement=st.booleans(),
    recipient_equivalent_rules=st.booleans(),
    purpose=PURPOSES,
    legal_basis=BASES,
    need_to_know=st.booleans(),
    right_to_know=st.booleans(),
    imminent_danger=st.booleans(),
    foreign_initiated=st.booleans(),
    authorisation_record=st.one_of(st.none(), st.text(max_size=10)),
    data_subject_consent=st.booleans(),
    judicial_use=st.booleans(),
    onward_permission=st.booleans(),
    fields=st.lists(st.sampled_from(["name", "religion", "political"]), unique=True).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(record=records, release=releases, today=DATES, country=st.sampled_from(COUNTRIES))
def test_tlp_red_is_always_denied(record: RecordFacts, release: ReleaseFacts, today: dt.date, country: str) -> None:
    decision = decide(load_framework(country), replace(record, tlp="RED"), release, today)
    assert decision.outcome == "deny"
    assert "COMMON-TLP-RED" in decision.rule_ids
    assert decision.obligations == () and decision.redactions == ()


@settings(max_examples=100, deadline=None)
@given(
    batch=st.lists(records, min_size=1, max_size=4, unique_by=lambda r: r.record_id),
    release=releases,
    today=DATES,
    country=st.sampled_from(COUNTRIES),
)
def test_a_release_is_as_strict_as_its_strictest_record(
    batch: list[RecordFacts], release: ReleaseFacts, today: dt.date, country: str
) -> None:
    framework = load_framework(country)
    combined = decide_many(framework, batch, release, today)
    singles = [decide(framework, r, release, today) for r in batch]
    assert combined.outcome == max((d.outcome for d in singles), key=SEVERITY.__getitem__)
    assert combined.per_record == tuple(singles)
    assert combined.rules, "every decision names the rules that decided it"
