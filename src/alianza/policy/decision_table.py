"""Decision tables: the legal framework's behaviour written as cases a lawyer can read and check.

A table is YAML::

    framework: US
    defaults:
      today: 2026-03-01
      record: {record_id: ..., tlp: AMBER, ...}       # every RecordFacts field
      release: {recipient_country: MX, ...}           # every ReleaseFacts field without a default
    cases:
      - name: DEA shares a cartel financier's record with FGR for an investigation — allowed
        record: {personal_data: true}                 # overrides of the default record
        # or records: [{...}, {...}] for a release of several records (decided with decide_many)
        release: {purpose: criminal_investigation}    # overrides of the default release
        today: 2026-03-02                             # optional
        expect:
          outcome: allow                              # allow | needs_approval | deny
          rules: [US-28CFR23-DISSEMINATION]           # must be among the deciding rules
          not_rules: [...]                            # must not fire at all (deciding, ground, obligation, redaction)
          obligations: [US-28CFR23-DISSEMINATION-LOG] # obligation rule ids that must apply
          redactions: [US-28CFR23-SENSITIVE-POLITICAL]# redaction rule ids that must apply
          redacted_fields: [political]                # fields that must be removed
          due: {MX-LSN-FOREIGN-AGENT-REPORT: 2026-03-04}

The shipped tables are the regression suite of the policy files: an edit to a ``.cedar`` file that changes a
decision shows up as a failing case, and every rule must be expected by some case so none is untested.
A malformed table is refused whole, naming the case and its line, because a case that silently checks
nothing is worse than none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from alianza.errors import AlianzaError, ConfigurationError
from alianza.i18n import Lang, gettext_for
from alianza.policy.decision import N_, OUTCOMES, Decision, Outcome
from alianza.policy.facts import COUNTRIES, RecordFacts, ReleaseFacts
from alianza.policy.frameworks import Framework, load_framework
from alianza.policy.gate import NO_PERMIT, decide, decide_many

TABLES_DIR = Path(__file__).parent / "tables"
SHIPPED_TABLES: tuple[Path, ...] = (TABLES_DIR / "us.yaml", TABLES_DIR / "mx.yaml")

#: Every problem inside a case starts with this, so a translator sees whole sentences.
CASE_PREFIX = "Decision table {file}, case {name} (line {line}): "
_CASE_KEYS = {"name", "record", "records", "release", "today", "expect"}
_EXPECT_KEYS = {"outcome", "rules", "not_rules", "obligations", "redactions", "redacted_fields", "due"}
_RECORD_FIELDS = {f.name for f in fields(RecordFacts)}
_RELEASE_FIELDS = {f.name for f in fields(ReleaseFacts)}


@dataclass(frozen=True, slots=True)
class Expectation:
    outcome: Outcome
    rules: tuple[str, ...] = ()
    not_rules: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    redactions: tuple[str, ...] = ()
    redacted_fields: tuple[str, ...] = ()
    due: dict[str, dt.date] = field(default_factory=dict)

    def rule_ids(self) -> set[str]:
        """The rule ids this expectation names, for the coverage check."""
        return {*self.rules, *self.obligations, *self.redactions, *self.due}


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    line: int
    records: tuple[RecordFacts, ...]
    release: ReleaseFacts
    today: dt.date
    expect: Expectation


@dataclass(frozen=True, slots=True)
class DecisionTable:
    path: Path
    framework: str
    cases: tuple[Case, ...]

    def covered_rule_ids(self) -> set[str]:
        return {rule_id for case in self.cases for rule_id in case.expect.rule_ids()}


#: A problem is an English msgid with its parameters, rendered in the reader's language.
Problem = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    decision: Decision
    problems: tuple[Problem, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def messages(self, lang: Lang = "en") -> tuple[str, ...]:
        _ = gettext_for(lang)
        return tuple(_(msgid).format(**params) for msgid, params in self.problems)


@dataclass(frozen=True, slots=True)
class TableResult:
    table: DecisionTable
    results: tuple[CaseResult, ...]
    uncovered: tuple[str, ...]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


def load_table(path: Path) -> DecisionTable:
    """Read and check a table; any problem is a ``ConfigurationError`` naming the file and the case."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError("Decision table {file} cannot be read: {err}", file=str(path), err=str(exc)) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2026-02-30
        raise ConfigurationError(
            "Decision table {file} is not valid YAML: {err}", file=str(path), err=str(exc)
        ) from None
    if not isinstance(raw, dict):
        raise ConfigurationError(
            "Decision table {file} must be a mapping with framework, defaults and cases.", file=str(path)
        )
    country = raw.get("framework")
    if country not in COUNTRIES:
        raise ConfigurationError(
            "Decision table {file}: framework must be US or MX, not {value}.", file=str(path), value=str(country)
        )
    unknown = sorted(set(raw) - {"framework", "defaults", "cases"})
    if unknown:
        raise ConfigurationError("Decision table {file}: unknown key {key}.", file=str(path), key=unknown[0])
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"today", "record", "release"}:
        raise ConfigurationError(
            "Decision table {file}: defaults may hold only today, record and release.", file=str(path)
        )
    cases_raw = raw.get("cases")
    if not isinstance(cases_raw, list) or not cases_raw:
        raise ConfigurationError("Decision table {file} has no cases.", file=str(path))
    lines = _case_lines(node)
    cases = []
    names: set[str] = set()
    for index, entry in enumerate(cases_raw):
        line = lines[index] if index < len(lines) else 0
        name = str(entry.get("name") or "") if isinstance(entry, dict) else ""
        where = {"file": str(path), "name": name or f"#{index + 1}", "line": line}
        try:
            case = _case(entry, defaults, line)
        except _CaseError as exc:
            raise ConfigurationError(CASE_PREFIX + exc.template, **where, **exc.params) from None
        if case.name in names:
            raise ConfigurationError(
                "Decision table {file}, case {name} (line {line}): another case has the same name.", **where
            )
        names.add(case.name)
        cases.append(case)
    return DecisionTable(path=path, framework=str(country), cases=tuple(cases))


def run_table(table: DecisionTable, framework: Framework | None = None) -> TableResult:
    """Decide every case and compare; a rule id the framework does not know is a malformed table."""
    framework = framework or load_framework(table.framework)
    known = set(framework.by_id) | {NO_PERMIT.id}
    results = []
    for case in table.cases:
        named = case.expect.rule_ids() | set(case.expect.not_rules)
        strangers = sorted(named - known)
        if strangers:
            raise ConfigurationError(
                "Decision table {file}, case {name} (line {line}): the {country} framework has no rule {rule}.",
                file=str(table.path),
                name=case.name,
                line=case.line,
                country=framework.country,
                rule=strangers[0],
            )
        if len(case.records) == 1:
            decision = decide(framework, case.records[0], case.release, case.today)
        else:
            decision = decide_many(framework, case.records, case.release, case.today)
        results.append(CaseResult(case, decision, tuple(check(case.expect, decision))))
    uncovered = tuple(r.id for r in framework.rules if r.id not in table.covered_rule_ids())
    return TableResult(table, tuple(results), uncovered)


def check(expect: Expectation, decision: Decision) -> list[Problem]:
    """How ``decision`` differs from ``expect``; empty when the case passes."""
    problems: list[Problem] = []
    if decision.outcome != expect.outcome:
        problems.append(
            (N_("outcome: expected {expected}, got {actual}"), {"expected": expect.outcome, "actual": decision.outcome})
        )
    _missing(problems, N_("deciding rules: expected {expected}, got {actual}"), expect.rules, decision.rule_ids)
    fired = {
        *decision.rule_ids,
        *(h.id for h in decision.grounds),
        *(o.id for o in decision.obligations),
        *(r.id for r in decision.redactions),
    }
    unwanted = [r for r in expect.not_rules if r in fired]
    if unwanted:
        problems.append((N_("rules that must not fire fired: {rules}"), {"rules": ", ".join(unwanted)}))
    _missing(
        problems,
        N_("obligations: expected {expected}, got {actual}"),
        expect.obligations,
        tuple(o.id for o in decision.obligations),
    )
    _missing(
        problems,
        N_("redactions: expected {expected}, got {actual}"),
        expect.redactions,
        tuple(r.id for r in decision.redactions),
    )
    _missing(
        problems,
        N_("redacted fields: expected {expected}, got {actual}"),
        expect.redacted_fields,
        decision.redacted_fields,
    )
    dues = {o.id: o.due for o in decision.obligations}
    for rule_id, due in expect.due.items():
        if dues.get(rule_id) != due:
            actual = dues.get(rule_id)
            problems.append(
                (
                    N_("{rule} due: expected {expected}, got {actual}"),
                    {"rule": rule_id, "expected": due.isoformat(), "actual": actual.isoformat() if actual else "-"},
                )
            )
    return problems


def _missing(problems: list[Problem], msgid: str, expected: tuple[str, ...], actual: tuple[str, ...]) -> None:
    if any(item not in actual for item in expected):
        problems.append((msgid, {"expected": ", ".join(expected), "actual": ", ".join(actual) or "-"}))


class _CaseError(Exception):
    """A problem inside one case; ``load_table`` prefixes ``CASE_PREFIX`` (file, case name, line).

    The template is an English msgid like every ``AlianzaError`` message, so the whole error can be shown
    in Spanish.
    """

    def __init__(self, template: str, **params: str) -> None:
        self.template = template
        self.params = params
        super().__init__(template)


def _case(entry: Any, defaults: dict[str, Any], line: int) -> Case:
    if not isinstance(entry, dict):
        raise _CaseError("a case must be a mapping.")
    unknown = sorted(set(entry) - _CASE_KEYS)
    if unknown:
        raise _CaseError("unknown key {key} (known: {known}).", key=unknown[0], known=", ".join(sorted(_CASE_KEYS)))
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _CaseError("every case needs a name.")
    if "record" in entry and "records" in entry:
        raise _CaseError("give record or records, not both.")
    base_record = _mapping(defaults.get("record"), "defaults.record")
    overrides = entry["records"] if "records" in entry else [entry.get("record") or {}]
    if not isinstance(overrides, list) or not overrides:
        raise _CaseError("records must be a non-empty list.")
    records = []
    for number, override in enumerate(overrides, start=1):
        values = {**base_record, **_mapping(override, "record")}
        if len(overrides) > 1 and "record_id" not in (override or {}):
            values["record_id"] = f"{values.get('record_id', 'record')}-{number}"
        records.append(_facts(RecordFacts, _RECORD_FIELDS, values, "record"))
    release_values = {
        **_mapping(defaults.get("release"), "defaults.release"),
        **_mapping(entry.get("release"), "release"),
    }
    release = _facts(ReleaseFacts, _RELEASE_FIELDS, release_values, "release")
    today = entry.get("today", defaults.get("today"))
    if not isinstance(today, dt.date) or isinstance(today, dt.datetime):
        raise _CaseError("today must be a date (YYYY-MM-DD), in the case or in defaults.")
    return Case(name.strip(), line, tuple(records), release, today, _expectation(entry.get("expect")))


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _CaseError("{what} must be a mapping.", what=what)
    return value


def _facts(cls: type[Any], known: set[str], values: dict[str, Any], what: str) -> Any:
    unknown = sorted(set(values) - known)
    if unknown:
        raise _CaseError("{what} has no field {field}.", what=what, field=unknown[0])
    try:
        return cls(**values)
    except TypeError as exc:
        missing = sorted(f for f in known if f not in values)
        raise _CaseError("{what} lacks {fields}.", what=what, fields=", ".join(missing) or str(exc)) from None
    except AlianzaError as exc:
        details = exc.details if isinstance(exc.details, list) else []
        text = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details) or exc.render()
        raise _CaseError("{what} is not valid: {problems}", what=what, problems=text) from None


def _expectation(raw: Any) -> Expectation:
    if not isinstance(raw, dict):
        raise _CaseError("expect must be a mapping with at least an outcome.")
    unknown = sorted(set(raw) - _EXPECT_KEYS)
    if unknown:
        raise _CaseError(
            "expect has unknown key {key} (known: {known}).", key=unknown[0], known=", ".join(sorted(_EXPECT_KEYS))
        )
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise _CaseError(
            "expect.outcome must be one of {known}, not {value}.", known=", ".join(OUTCOMES), value=repr(outcome)
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("rules", "not_rules", "obligations", "redactions", "redacted_fields"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _CaseError("expect.{key} must be a list of names.", key=key)
        lists[key] = tuple(value)
    due = raw.get("due") or {}
    if not isinstance(due, dict) or not all(
        isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in due.values()
    ):
        raise _CaseError("expect.due must map obligation rule ids to dates (YYYY-MM-DD).")
    return Expectation(outcome=outcome, due={str(k): v for k, v in due.items()}, **lists)


def _case_lines(root: yaml.Node | None) -> list[int]:
    """The line of each case, from the YAML node tree (the constructed data has no positions)."""
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []
