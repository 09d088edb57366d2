"""Loading the frameworks: the shipped ones are complete and bilingual; a broken policy file is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from alianza.errors import ConfigurationError
from alianza.policy import load_framework
from alianza.policy.frameworks import KINDS

GOOD = (
    '@id("{id}")\n@reason_en("Because.")\n@reason_es("Porque sí.")\n'
    'forbid (principal, action == Action::"release", resource) when {{ resource.tlp == "RED" }};\n'
)


def test_shipped_frameworks_load_with_bilingual_rules() -> None:
    for country in ("US", "MX"):
        framework = load_framework(country)
        assert framework is load_framework(country)  # compiled once per process
        ids = [r.id for r in framework.rules]
        assert len(ids) == len(set(ids))
        # Mexico's framework has no redaction rule (yet); every other kind exists in both.
        assert {r.kind for r in framework.rules} == set(KINDS) - ({"redaction"} if country == "MX" else set())
        for rule in framework.rules:
            assert rule.id.startswith(("COMMON-", country + "-"))
            assert rule.reason_en and rule.reason_es and rule.reason_en != rule.reason_es
            assert rule.cite, rule.id
            assert rule.line > 0 and (framework.root / rule.file).is_file()
    es = " ".join(r.reason_es for r in load_framework("MX").rules)
    assert all(ch in es for ch in "áéíóú")  # Spanish written with its accents


def test_frameworks_share_the_common_rules_and_keep_their_own() -> None:
    us = {r.id for r in load_framework("US").rules}
    mx = {r.id for r in load_framework("MX").rules}
    common = {i for i in us if i.startswith("COMMON-")}
    assert common and common == {i for i in mx if i.startswith("COMMON-")}
    assert "US-28CFR23-PREDICATE" in us and "US-28CFR23-PREDICATE" not in mx
    assert "MX-CPEUM-40-AUTHORISATION" in mx and "MX-CPEUM-40-AUTHORISATION" not in us


def test_unknown_country_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Unknown legal framework CA"):
        load_framework("CA")


def _refused(root: Path, *fragments: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_framework("US", root)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text, encoding="utf-8")


def test_a_file_that_does_not_parse_is_refused_by_name(frameworks_copy: Path) -> None:
    _write(frameworks_copy, "us/broken.cedar", 'forbid (principal, action == Action::"release", resource) when { };')
    _refused(frameworks_copy, "us/broken.cedar", "does not parse")


def test_a_policy_without_id_is_refused(frameworks_copy: Path) -> None:
    _write(frameworks_copy, "us/x.cedar", GOOD.format(id="US-X").replace('@id("US-X")\n', ""))
    _refused(frameworks_copy, "us/x.cedar", "no @id")


@pytest.mark.parametrize("missing", ["reason_en", "reason_es"])
def test_a_policy_without_a_reason_is_refused(frameworks_copy: Path, missing: str) -> None:
    text = "\n".join(line for line in GOOD.format(id="US-X").splitlines() if not line.startswith(f"@{missing}"))
    _write(frameworks_copy, "us/x.cedar", text)
    _refused(frameworks_copy, "US-X", "us/x.cedar:1", f"@{missing}")


def test_a_duplicate_id_names_both_places(frameworks_copy: Path) -> None:
    _write(frameworks_copy, "us/zz_copy.cedar", GOOD.format(id="US-28CFR23-PREDICATE"))
    _refused(frameworks_copy, "US-28CFR23-PREDICATE appears twice", "us/28cfr23.cedar:", "us/zz_copy.cedar:1")


def test_a_misspelt_attribute_is_refused_instead_of_never_firing(frameworks_copy: Path) -> None:
    _write(frameworks_copy, "us/x.cedar", GOOD.format(id="US-X").replace("resource.tlp", "resource.tlp_level"))
    message = _refused(frameworks_copy, "us/x.cedar", "does not match the policy schema", "US-X", "tlp_level")
    assert "policy0" not in message  # Cedar's positional id is replaced by the rule's own


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (('action == Action::"release"', "action"), "must name exactly one action"),
        (('action == Action::"release"', 'action in [Action::"release", Action::"redaction"]'), "exactly one action"),
        (("forbid", "permit"), None),  # a permit on release is a legal ground: fine
        (('Action::"release"', 'Action::"release_without_review"'), None),  # a review rule: fine
        (("forbid", "permit", 'Action::"release"', 'Action::"release_without_review"'), "means nothing to the gate"),
        (('Action::"release"', 'Action::"redaction"'), "means nothing to the gate"),
        (('@id("US-X")', '@id("US-X")\n@colour("red")'), "unknown annotation @colour"),
        (('@id("US-X")', '@id("us x")'), "upper-case words"),
        (('@id("US-X")', '@id("MX-X")'), "must have an id starting with US-"),
        (('@id("US-X")', '@id("US-X")\n@redact("religion")'), "@redact belongs on a redaction policy"),
        (('@id("US-X")', '@id("US-X")\n@due_days("3")'), "@obligation and @due_days belong"),
        (("resource)", "resource == ?resource)"), "template"),
    ],
)
def test_policies_the_gate_could_not_explain_are_refused(
    frameworks_copy: Path, change: tuple[str, ...], fragment: str | None
) -> None:
    text = GOOD.format(id="US-X")
    for old, new in zip(change[::2], change[1::2], strict=True):
        text = text.replace(old, new, 1)
    _write(frameworks_copy, "us/x.cedar", text)
    if fragment is None:
        assert "US-X" in load_framework("US", frameworks_copy).by_id
    else:
        _refused(frameworks_copy, "us/x.cedar", fragment)


def test_obligations_and_redactions_need_their_annotation(frameworks_copy: Path) -> None:
    base = (
        '@id("US-X")\n@reason_en("a")\n@reason_es("b")\n'
        '{extra}permit (principal, action == Action::"{action}", resource);\n'
    )
    _write(frameworks_copy, "us/x.cedar", base.format(extra="", action="redaction"))
    _refused(frameworks_copy, "us/x.cedar", "redaction without @redact")
    _write(frameworks_copy, "us/x.cedar", base.format(extra="", action="obligation"))
    _refused(frameworks_copy, "us/x.cedar", "obligation without @obligation")
    _write(
        frameworks_copy, "us/x.cedar", base.format(extra='@obligation("x")\n@due_days("three")\n', action="obligation")
    )
    _refused(frameworks_copy, "us/x.cedar", "@due_days must be a whole number")
    _write(frameworks_copy, "us/x.cedar", base.format(extra='@redact("religion, bad field")\n', action="redaction"))
    _refused(frameworks_copy, "us/x.cedar", "bad field")
    _write(frameworks_copy, "us/x.cedar", base.format(extra='@redact("religion, political")\n', action="redaction"))
    assert load_framework("US", frameworks_copy).rule("US-X").redact == ("religion", "political")


def test_an_empty_file_a_missing_country_and_a_broken_schema_are_refused(frameworks_copy: Path) -> None:
    _write(frameworks_copy, "common/empty.cedar", "// nothing yet\n")
    _refused(frameworks_copy, "common/empty.cedar", "holds no policy")
    (frameworks_copy / "common" / "empty.cedar").unlink()
    _write(frameworks_copy, "schema.cedarschema", "entity Node = {")
    _refused(frameworks_copy, "schema.cedarschema", "does not parse")
    for path in (frameworks_copy / "us").glob("*.cedar"):
        path.unlink()
    _write(frameworks_copy, "schema.cedarschema", (load_framework("US").root / "schema.cedarschema").read_text())
    _refused(frameworks_copy, "No policy files", str(frameworks_copy / "us"))


def test_rules_list_what_the_policies_page_shows() -> None:
    rule = load_framework("US").rule("US-28CFR23-REVIEW-PURGE")
    assert (rule.effect, rule.action, rule.kind) == ("forbid", "release", "deny")
    assert rule.cite == "28 CFR 23.20(h)"
    assert rule.file == "us/28cfr23.cedar"
    report = load_framework("MX").rule("MX-LSN-FOREIGN-AGENT-REPORT")
    assert (report.kind, report.obligation, report.due_days) == ("obligation", "sre_sspc_report", 3)
