"""The gate's three outcomes, deny-overrides, and what a decision carries (rules, obligations, redactions)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest

from alianza.errors import ValidationError
from alianza.policy import Framework, decide, decide_many, load_framework
from alianza.policy.facts import Country
from alianza.policy.gate import NO_PERMIT
from tests.policy.conftest import MX_RECORD, MX_RELEASE, TODAY, US_RECORD, US_RELEASE


def test_ordinary_releases_are_allowed_with_their_legal_grounds(us: Framework, mx: Framework) -> None:
    us_decision = decide(us, US_RECORD, US_RELEASE, TODAY)
    assert us_decision.outcome == "allow"
    assert us_decision.rule_ids == ("US-28CFR23-DISSEMINATION",)
    assert us_decision.grounds == us_decision.rules
    mx_decision = decide(mx, MX_RECORD, MX_RELEASE, TODAY)
    assert mx_decision.outcome == "allow"
    assert mx_decision.rule_ids == ("MX-LGPDPPSO-TRANSFER",)


def test_deny_overrides_the_permits_that_also_apply(us: Framework) -> None:
    # The dissemination permit's conditions all hold; the third-party forbid fires as well.
    record = replace(US_RECORD, partner_originated=True, origin_country="MX", origin_agency="mx_sspc")
    decision = decide(us, record, US_RELEASE, TODAY)
    assert decision.outcome == "deny"
    assert decision.rule_ids == ("COMMON-THIRD-PARTY",)
    assert decision.grounds == ()
    assert decision.obligations == () and decision.redactions == ()


def test_deny_names_every_forbid_that_fired_in_framework_order(us: Framework) -> None:
    record = replace(US_RECORD, tlp="RED", criminal_predicate=False, retention_review=dt.date(2025, 1, 1))
    decision = decide(us, record, replace(US_RELEASE, need_to_know=False), TODAY)
    assert decision.rule_ids == (
        "COMMON-TLP-RED",
        "US-28CFR23-PREDICATE",
        "US-28CFR23-NEED-RIGHT-TO-KNOW",
        "US-28CFR23-REVIEW-PURGE",
    )


@pytest.mark.parametrize("country", ["US", "MX"])
def test_tlp_red_never_leaves_the_node(country: str) -> None:
    framework = load_framework(country)
    record, release = (US_RECORD, US_RELEASE) if country == "US" else (MX_RECORD, MX_RELEASE)
    decision = decide(framework, replace(record, tlp="RED"), release, TODAY)
    assert decision.outcome == "deny"
    assert "COMMON-TLP-RED" in decision.rule_ids
    hit = decision.rules[0]
    assert "TLP:RED" in hit.reason_en and "nunca sale" in hit.reason_es


@pytest.mark.parametrize("country", ["US", "MX"])
def test_partner_data_is_not_passed_on_without_the_originators_consent(country: str) -> None:
    framework = load_framework(country)
    record, release = (US_RECORD, US_RELEASE) if country == "US" else (MX_RECORD, MX_RELEASE)
    partner: Country = "MX" if country == "US" else "US"
    received = replace(record, partner_originated=True, origin_country=partner, origin_agency="originator")
    denied = decide(framework, received, release, TODAY)
    assert denied.outcome == "deny" and "COMMON-THIRD-PARTY" in denied.rule_ids
    consented = decide(framework, replace(received, originator_consent=True), release, TODAY)
    assert consented.outcome == "allow"
    returned = decide(framework, received, replace(release, recipient_agency="originator"), TODAY)
    assert "COMMON-THIRD-PARTY" not in returned.rule_ids


def test_needs_approval_carries_the_review_rules_and_the_grounds(us: Framework) -> None:
    decision = decide(us, replace(US_RECORD, handling="H3", source_reliability="X"), US_RELEASE, TODAY)
    assert decision.outcome == "needs_approval"
    assert decision.rule_ids == ("COMMON-H3-REVIEW", "COMMON-SOURCE-X-REVIEW")
    assert [h.id for h in decision.grounds] == ["US-28CFR23-DISSEMINATION"]
    assert decision.obligation("dissemination_log") is not None


def test_us_dissemination_log_and_privacy_act_accounting(us: Framework) -> None:
    plain = decide(us, US_RECORD, US_RELEASE, TODAY)
    assert [o.kind for o in plain.obligations] == ["dissemination_log"]
    assert plain.obligations[0].cite == "28 CFR 23.20(g)"
    citizen = decide(us, replace(US_RECORD, us_person=True), US_RELEASE, TODAY)
    assert [o.kind for o in citizen.obligations] == ["dissemination_log", "accounting_of_disclosures"]
    accounting = citizen.obligation("accounting_of_disclosures")
    assert accounting is not None and accounting.id == "US-PA-ACCOUNTING" and accounting.due is None


def test_mx_report_to_sre_and_sspc_is_due_three_days_later(mx: Framework) -> None:
    decision = decide(mx, MX_RECORD, MX_RELEASE, dt.date(2026, 12, 30))
    report = decision.obligation("sre_sspc_report")
    assert report is not None
    assert report.id == "MX-LSN-FOREIGN-AGENT-REPORT"
    assert report.due == dt.date(2027, 1, 2)
    domestic = replace(MX_RELEASE, recipient_country="MX", recipient_agency="mx_sspc", recipient_organisation="mx_sspc")
    assert decide(mx, MX_RECORD, domestic, TODAY).obligation("sre_sspc_report") is None


def test_sensitive_data_not_tied_to_crime_is_redacted(us: Framework) -> None:
    record = replace(US_RECORD, sensitive_categories=("political", "religious"))
    decision = decide(us, record, US_RELEASE, TODAY)
    assert decision.outcome == "allow"
    assert [r.id for r in decision.redactions] == ["US-28CFR23-SENSITIVE-POLITICAL", "US-28CFR23-SENSITIVE-RELIGIOUS"]
    assert decision.redacted_fields == ("political", "religion")
    tied = decide(us, replace(record, sensitive_tied_to_crime=True), US_RELEASE, TODAY)
    assert tied.redactions == ()


def test_decide_many_combines_with_deny_overrides(us: Framework) -> None:
    records = [
        replace(US_RECORD, record_id="a", sensitive_categories=("social",)),
        replace(US_RECORD, record_id="b", handling="H2"),
        replace(US_RECORD, record_id="c", us_person=True),
    ]
    review = decide_many(us, records, US_RELEASE, TODAY)
    assert review.outcome == "needs_approval"
    assert review.rule_ids == ("COMMON-H2-REVIEW",)
    assert review.rules[0].record_ids == ("b",)
    assert [d.outcome for d in review.per_record] == ["allow", "needs_approval", "allow"]
    log = review.obligation("dissemination_log")
    assert log is not None and log.record_ids == ("a", "b", "c")
    accounting = review.obligation("accounting_of_disclosures")
    assert accounting is not None and accounting.record_ids == ("c",)
    assert review.redacted_fields_for("a") == ("associations",)
    assert review.redacted_fields_for("b") == ()

    denied = decide_many(us, [*records, replace(US_RECORD, record_id="d", tlp="RED")], US_RELEASE, TODAY)
    assert denied.outcome == "deny"
    assert denied.rule_ids == ("COMMON-TLP-RED",)
    assert denied.rules[0].record_ids == ("d",)
    assert denied.obligations == () and denied.redactions == ()
    assert denied.record_ids == ("a", "b", "c", "d")


def test_decide_many_refuses_an_empty_or_ambiguous_release(us: Framework) -> None:
    with pytest.raises(ValidationError):
        decide_many(us, [], US_RELEASE, TODAY)
    with pytest.raises(ValidationError, match="appears twice"):
        decide_many(us, [US_RECORD, US_RECORD], US_RELEASE, TODAY)


def test_reasons_and_summary_in_both_languages(us: Framework) -> None:
    decision = decide(us, replace(US_RECORD, retention_review=dt.date(2026, 1, 1)), US_RELEASE, TODAY)
    assert decision.reasons("en")[0].startswith("US-28CFR23-REVIEW-PURGE: The record is past its review date")
    assert "depurarse" in decision.reasons("es")[0]
    assert decision.summary("es").startswith("Denegada:")
    allowed = decide(us, replace(US_RECORD, sensitive_categories=("religious",)), US_RELEASE, TODAY)
    summary = allowed.summary("es")
    assert summary.startswith("Permitida:") and "Obligación US-28CFR23-DISSEMINATION-LOG" in summary
    assert "Suprimir religion" in summary


def test_decision_serialises_to_json(mx: Framework) -> None:
    decision = decide_many(mx, [MX_RECORD, replace(MX_RECORD, record_id="x", handling="H3")], MX_RELEASE, TODAY)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["outcome"] == "needs_approval"
    assert data["obligations"][0]["due"] == "2026-03-05"
    assert [d["outcome"] for d in data["per_record"]] == ["allow", "needs_approval"]


def test_nothing_permitted_is_denied_with_the_default_reason(frameworks_copy: Path) -> None:
    # A framework whose only permit cannot apply: Cedar denies by default and the gate says so.
    for path in frameworks_copy.glob("us/*.cedar"):
        path.unlink()
    (frameworks_copy / "us" / "only.cedar").write_text(
        '@id("US-NEVER")\n@reason_en("never")\n@reason_es("nunca")\n'
        'permit (principal, action == Action::"release", resource) when { resource.tlp == "nothing" };\n',
        encoding="utf-8",
    )
    framework = load_framework("US", frameworks_copy)
    decision = decide(framework, US_RECORD, US_RELEASE, TODAY)
    assert decision.outcome == "deny"
    assert decision.rule_ids == (NO_PERMIT.id,)
    assert decision.rules[0].record_ids == (US_RECORD.record_id,)


def test_facts_with_values_outside_the_vocabulary_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        replace(US_RECORD, tlp="red")  # type: ignore[arg-type]
    assert [(d["field"], d["message"]) for d in caught.value.details] == [
        ("tlp", "must be one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED, not 'red'")
    ]
    with pytest.raises(ValidationError):
        replace(US_RECORD, info_accuracy=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        replace(US_RECORD, sensitive_categories=("ethnic",))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        replace(US_RECORD, personal_data="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        replace(US_RELEASE, recipient_country="CA")  # type: ignore[arg-type]


def test_blank_authorisation_is_no_authorisation(mx: Framework) -> None:
    release = replace(MX_RELEASE, foreign_initiated=True, authorisation_record="  ")
    assert release.authorisation_record is None
    assert decide(mx, MX_RECORD, release, TODAY).rule_ids == ("MX-CPEUM-40-AUTHORISATION",)
    authorised = replace(release, authorisation_record="SRE-AUT-2026-0147")
    assert decide(mx, MX_RECORD, authorised, TODAY).outcome == "allow"


def test_lists_from_yaml_or_json_are_stored_as_tuples() -> None:
    record = replace(US_RECORD, sensitive_categories=["social"])  # type: ignore[arg-type]
    assert record.sensitive_categories == ("social",)
    release = replace(US_RELEASE, fields=["name"])  # type: ignore[arg-type]
    assert release.fields == ("name",)
    assert hash(record) and hash(release)
