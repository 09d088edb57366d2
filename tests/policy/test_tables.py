"""The shipped decision tables pass, are big enough, cover every rule; a malformed table is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from alianza.errors import ConfigurationError
from alianza.policy import load_framework
from alianza.policy.decision_table import SHIPPED_TABLES, load_table, run_table


@pytest.mark.parametrize("path", SHIPPED_TABLES, ids=lambda p: p.name)
def test_shipped_table_passes_and_covers_every_rule(path: Path) -> None:
    table = load_table(path)
    result = run_table(table)
    failures = [(r.case.name, r.messages()) for r in result.results if not r.passed]
    assert failures == []
    assert len(table.cases) >= 40
    assert {c.expect.outcome for c in table.cases} == {"allow", "deny", "needs_approval"}
    assert result.uncovered == ()
    framework = load_framework(table.framework)
    assert {r.id for r in framework.rules} <= table.covered_rule_ids()
    assert any(len(c.records) > 1 for c in table.cases)  # decide_many is exercised too


TABLE = """\
framework: US
defaults:
  today: 2026-03-02
  record:
    record_id: r1
    schema: Person
    tlp: AMBER
    handling: H1
    source_reliability: B
    info_accuracy: 2
    origin_country: US
    origin_agency: us_dea
    partner_originated: false
    originator_consent: false
    personal_data: false
    us_person: false
    legal_basis: criminal_investigation
    purpose: criminal_investigation
    criminal_predicate: true
    sensitive_categories: []
    sensitive_tied_to_crime: false
    retention_review: 2029-06-30
  release:
    recipient_country: MX
    recipient_agency: mx_fgr
    recipient_organisation: mx_fgr
    recipient_law_enforcement: true
    recipient_equivalent_rules: true
    purpose: criminal_investigation
    legal_basis: routine_use
    need_to_know: true
    right_to_know: true
cases:
  - name: ordinary release
    expect: {outcome: allow, rules: [US-28CFR23-DISSEMINATION]}
  - name: the broken case
{case}
"""


def _table(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "table.yaml"
    path.write_text(TABLE.replace("{case}", case), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("    expect: {rules: []}", "expect.outcome must be one of"),
        ("    expect: {outcome: maybe}", "expect.outcome must be one of"),
        ("    record: {tlp: red}\n    expect: {outcome: deny}", "tlp: must be one of"),
        ("    record: {tlp_level: RED}\n    expect: {outcome: deny}", "record has no field tlp_level"),
        ("    release: {need_to_know: perhaps}\n    expect: {outcome: deny}", "need_to_know: must be true or false"),
        ("    expect: {outcome: deny, rulez: []}", "expect has unknown key rulez"),
        ("    reccord: {}\n    expect: {outcome: deny}", "unknown key reccord"),
        ("    today: soon\n    expect: {outcome: deny}", "today must be a date"),
        ("    expect: {outcome: deny, due: {X: tomorrow}}", "expect.due must map"),
        ("    record: {}\n    records: [{}]\n    expect: {outcome: deny}", "record or records, not both"),
        (
            "    record: {retention_review: '2029-02-28'}\n    expect: {outcome: deny}",
            "retention_review: must be a date",
        ),
    ],
)
def test_malformed_case_is_refused_with_its_name_and_line(tmp_path: Path, case: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_table(_table(tmp_path, case))
    message = str(caught.value)
    assert "case the broken case (line 36)" in message, message
    assert fragment in message, message


def test_an_unknown_rule_id_is_refused_when_run(tmp_path: Path) -> None:
    table = load_table(_table(tmp_path, "    expect: {outcome: deny, rules: [US-28CFR23-PREDICAT]}"))
    with pytest.raises(ConfigurationError, match=r"the broken case \(line 36\): the US framework has no rule"):
        run_table(table)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("framework: [", "not valid YAML"),
        ("framework: US\ndefaults: {today: 2026-02-30}\ncases: [{name: a}]", "not valid YAML: day is out of range"),
        ("- a list", "must be a mapping"),
        ("framework: CA\ncases: []", "framework must be US or MX"),
        ("framework: US\ncases: []", "has no cases"),
        ("framework: US\ncasez: []", "unknown key casez"),
        ("framework: US\ndefaults: {tomorrow: 1}\ncases: [{name: a}]", "defaults may hold only"),
    ],
)
def test_malformed_table_is_refused_by_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_table(path)
    assert str(path) in str(caught.value) and fragment in str(caught.value)


def test_duplicate_case_names_are_refused(tmp_path: Path) -> None:
    path = _table(tmp_path, "    expect: {outcome: allow}").read_text().replace("the broken case", "ordinary release")
    (tmp_path / "dup.yaml").write_text(path, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="another case has the same name"):
        load_table(tmp_path / "dup.yaml")


def test_a_failing_case_reports_expected_and_actual(tmp_path: Path) -> None:
    case = (
        "    record: {tlp: RED}\n"
        "    expect: {outcome: allow, rules: [US-28CFR23-DISSEMINATION], obligations: [US-28CFR23-DISSEMINATION-LOG]}"
    )
    result = run_table(load_table(_table(tmp_path, case)))
    assert (result.passed, result.failed) == (1, 1)
    failed = result.results[1]
    assert failed.case.line == 36
    assert failed.messages() == (
        "outcome: expected allow, got deny",
        "deciding rules: expected US-28CFR23-DISSEMINATION, got COMMON-TLP-RED",
        "obligations: expected US-28CFR23-DISSEMINATION-LOG, got -",
    )
    assert failed.messages("es")[0] == "resultado: se esperaba allow, se obtuvo deny"
    assert "US-28CFR23-PREDICATE" in result.uncovered
