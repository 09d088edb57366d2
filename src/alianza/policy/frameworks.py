"""Each country's legal framework: the Cedar policy files, parsed, checked and compiled once.

A framework is ``frameworks/common/*.cedar`` (rules both countries apply) plus ``frameworks/us/*.cedar`` or
``frameworks/mx/*.cedar``. Every policy carries ``@id``, ``@reason_en`` and ``@reason_es`` so a decision can
always say, in both languages, which rule decided; ``@cite`` names the legal text. A policy file is
legal text an operator may edit, so loading refuses, naming the file, anything the gate could not explain
or would evaluate wrongly: a syntax error, a missing or duplicate id, a missing reason, an attribute the
schema does not know (a misspelt attribute would make a forbid never fire), a policy that does not name
exactly one action, an annotation nobody reads. Cedar reports its own positional ids (``policy0``); the
policies are re-keyed by their ``@id`` so the engine itself answers with the rule ids.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import cedarpy

from alianza.errors import ConfigurationError
from alianza.i18n import Lang
from alianza.policy.decision import RuleHit
from alianza.policy.encoding import ACTIONS, Action, batch
from alianza.policy.facts import COUNTRIES, RecordFacts, ReleaseFacts

FRAMEWORKS_DIR = Path(__file__).parent / "frameworks"
SCHEMA_FILE = "schema.cedarschema"

Kind = Literal["deny", "permit", "review", "obligation", "redaction"]
KINDS: tuple[Kind, ...] = ("deny", "review", "permit", "obligation", "redaction")

#: (action, effect) -> kind. Pairs not listed are refused: they would mean nothing to the gate.
_KIND_OF: dict[tuple[str, str], Kind] = {
    ("release", "forbid"): "deny",
    ("release", "permit"): "permit",
    ("release_without_review", "forbid"): "review",
    ("obligation", "permit"): "obligation",
    ("redaction", "permit"): "redaction",
}
ANNOTATIONS = ("id", "reason_en", "reason_es", "cite", "redact", "obligation", "due_days")
_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy of a framework, as the UI's policies page and the decision explain it."""

    id: str
    effect: Literal["permit", "forbid"]
    action: Action
    kind: Kind
    reason_en: str
    reason_es: str
    cite: str
    file: str
    line: int
    redact: tuple[str, ...] = ()
    obligation: str | None = None
    due_days: int | None = None

    def reason(self, lang: Lang) -> str:
        return self.reason_es if lang == "es" else self.reason_en

    def hit(self, record_ids: tuple[str, ...] = ()) -> RuleHit:
        return RuleHit(self.id, self.reason_en, self.reason_es, self.cite, record_ids)


@dataclass(frozen=True)
class Framework:
    """A country's compiled policies; build it with ``load_framework`` and reuse it for every decision."""

    country: str
    root: Path
    rules: tuple[Rule, ...]
    policies: Any = field(repr=False, compare=False)  # cedarpy.PolicySet, parsed once
    schema: Any = field(repr=False, compare=False)  # cedarpy.Schema, parsed once
    by_id: dict[str, Rule] = field(init=False, repr=False, compare=False)
    order: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "order", {r.id: i for i, r in enumerate(self.rules)})

    def rule(self, rule_id: str) -> Rule:
        return self.by_id[rule_id]

    def rules_of(self, kind: Kind) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.kind == kind)


def load_framework(country: str, root: Path | None = None) -> Framework:
    """The framework of ``country`` (US or MX); the shipped one is loaded once per process.

    ``root`` points at another directory laid out like ``frameworks/`` (tests, or an operator trying an
    edited policy set before installing it); it is read afresh on every call.
    """
    if country not in COUNTRIES:
        raise ConfigurationError("Unknown legal framework {country}: use US or MX.", country=country)
    if root is None:
        return _shipped(country)
    return _load(country, Path(root))


@cache
def _shipped(country: str) -> Framework:
    return _load(country, FRAMEWORKS_DIR)


def _load(country: str, root: Path) -> Framework:
    schema = _load_schema(root / SCHEMA_FILE)
    country_dir = root / country.lower()
    own = sorted(country_dir.glob("*.cedar"))
    if not own:
        raise ConfigurationError("No policy files (*.cedar) in {dir}.", dir=str(country_dir))
    files = sorted((root / "common").glob("*.cedar")) + own
    rules: list[Rule] = []
    bodies: dict[str, Any] = {}
    seen: dict[str, Rule] = {}
    for path in files:
        for rule, body in _load_file(path, root, schema):
            if rule.id in seen:
                first = seen[rule.id]
                raise ConfigurationError(
                    "Policy id {id} appears twice: {file}:{line} and {first}:{first_line}.",
                    id=rule.id,
                    file=rule.file,
                    line=rule.line,
                    first=first.file,
                    first_line=first.line,
                )
            seen[rule.id] = rule
            rules.append(rule)
            bodies[rule.id] = body
    document = {"staticPolicies": bodies, "templates": {}, "templateLinks": []}
    try:
        policies = cedarpy.PolicySet.from_json_str(json.dumps(document))
    except ValueError as exc:  # pragma: no cover - each file parsed on its own already
        raise ConfigurationError("The policies of {dir} do not combine: {err}", dir=str(root), err=str(exc)) from None
    framework = Framework(country=country, root=root, rules=tuple(rules), policies=policies, schema=schema)
    _trial(framework)
    return framework


def _load_schema(path: Path) -> Any:
    try:
        return cedarpy.Schema.from_str(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError("Policy schema {file} cannot be read: {err}", file=str(path), err=str(exc)) from None
    except ValueError as exc:
        raise ConfigurationError("Policy schema {file} does not parse: {err}", file=str(path), err=str(exc)) from None


def _load_file(path: Path, root: Path, schema: Any) -> list[tuple[Rule, Any]]:
    name = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError("Policy file {file} cannot be read: {err}", file=name, err=str(exc)) from None
    try:
        document = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise ConfigurationError("Policy file {file} does not parse: {err}", file=name, err=str(exc)) from None
    if document.get("templates"):
        raise ConfigurationError(
            "Policy file {file} holds a template (a policy with ?principal or ?resource); write plain policies.",
            file=name,
        )
    statics: dict[str, Any] = document.get("staticPolicies") or {}
    if not statics:
        raise ConfigurationError("Policy file {file} holds no policy.", file=name)
    ordered = sorted(statics.items(), key=lambda item: int(item[0].removeprefix("policy") or 0))
    loaded = [(_rule(name, text, number, body), body) for number, (_, body) in enumerate(ordered, start=1)]
    _validate(name, text, schema)
    prefix = "COMMON" if name.startswith("common/") else name.split("/")[0].upper()
    for rule, _body in loaded:
        if not rule.id.startswith(prefix + "-"):
            raise ConfigurationError(
                "Policy {id} in {file}:{line} must have an id starting with {prefix}-.",
                id=rule.id,
                file=name,
                line=rule.line,
                prefix=prefix,
            )
    return loaded


def _rule(name: str, text: str, number: int, body: dict[str, Any]) -> Rule:
    annotations: dict[str, str] = body.get("annotations") or {}
    rule_id = (annotations.get("id") or "").strip()
    if not rule_id:
        raise ConfigurationError(
            "Policy number {number} in {file} has no @id annotation; every rule needs one.", number=number, file=name
        )
    line = _line_of(text, rule_id)
    where = {"id": rule_id, "file": name, "line": line}
    if not _ID_PATTERN.match(rule_id):
        raise ConfigurationError(
            "Policy {id} in {file}:{line}: an id is upper-case words joined by hyphens, such as US-28CFR23-PREDICATE.",
            **where,
        )
    unknown = sorted(set(annotations) - set(ANNOTATIONS))
    if unknown:
        raise ConfigurationError(
            "Policy {id} in {file}:{line} has an unknown annotation @{name}; the known ones are {known}.",
            name=unknown[0],
            known=", ".join("@" + a for a in ANNOTATIONS),
            **where,
        )
    for required in ("reason_en", "reason_es"):
        if not (annotations.get(required) or "").strip():
            raise ConfigurationError("Policy {id} in {file}:{line} has no @{name} annotation.", name=required, **where)
    scope = body.get("action") or {}
    entity = scope.get("entity") or {}
    action = entity.get("id")
    if scope.get("op") != "==" or entity.get("type") != "Action" or action not in ACTIONS:
        raise ConfigurationError(
            'Policy {id} in {file}:{line} must name exactly one action: action == Action::"{actions}".',
            actions='" | "'.join(ACTIONS),
            **where,
        )
    effect = body.get("effect")
    kind = _KIND_OF.get((str(action), str(effect)))
    if kind is None:
        raise ConfigurationError(
            "Policy {id} in {file}:{line}: a {effect} on {action} means nothing to the gate; "
            "see the comment at the top of schema.cedarschema.",
            effect=effect,
            action=action,
            **where,
        )
    redact = _redact_fields(annotations.get("redact"), where)
    obligation = (annotations.get("obligation") or "").strip() or None
    due_days = _due_days(annotations.get("due_days"), where)
    if kind == "redaction" and not redact:
        raise ConfigurationError('Policy {id} in {file}:{line} is a redaction without @redact("field,...").', **where)
    if kind != "redaction" and "redact" in annotations:
        raise ConfigurationError("Policy {id} in {file}:{line}: @redact belongs on a redaction policy.", **where)
    if kind == "obligation" and obligation is None:
        raise ConfigurationError('Policy {id} in {file}:{line} is an obligation without @obligation("kind").', **where)
    if kind != "obligation" and ("obligation" in annotations or "due_days" in annotations):
        raise ConfigurationError(
            "Policy {id} in {file}:{line}: @obligation and @due_days belong on an obligation policy.", **where
        )
    return Rule(
        id=rule_id,
        effect="permit" if effect == "permit" else "forbid",
        action=action,  # checked against ACTIONS above
        kind=kind,
        reason_en=annotations["reason_en"].strip(),
        reason_es=annotations["reason_es"].strip(),
        cite=(annotations.get("cite") or "").strip(),
        file=name,
        line=line,
        redact=redact,
        obligation=obligation,
        due_days=due_days,
    )


def _redact_fields(value: str | None, where: dict[str, Any]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [n for n in names if not _FIELD_PATTERN.match(n)]
    if bad:
        raise ConfigurationError(
            "Policy {id} in {file}:{line}: @redact names {field}, which is not a field name.", field=bad[0], **where
        )
    return names


def _due_days(value: str | None, where: dict[str, Any]) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ConfigurationError(
            "Policy {id} in {file}:{line}: @due_days must be a whole number of days, not {value}.", value=value, **where
        )
    return int(value)


def _validate(name: str, text: str, schema: Any) -> None:
    result = cedarpy.validate_policies(text, schema)
    if result.validation_passed:
        return
    ids: dict[str, str] = result.id_annotations_by_policy_id
    problems = []
    for error in result.errors:
        rule_id = ids.get(error.policy_id, error.policy_id)
        message = error.error.replace(f"`{error.policy_id}`", rule_id) if error.policy_id else error.error
        problems.append({"line": _line_of(text, rule_id) or None, "message": f"{rule_id}: {message}"})
    raise ConfigurationError(
        "Policy file {file} does not match the policy schema: {first}",
        details=problems,
        file=name,
        first=problems[0]["message"] if problems else "",
    )


def _line_of(text: str, rule_id: str) -> int:
    """The line of a rule's ``@id``, so messages and the policies page can point into the file."""
    match = re.search(r'@id\s*\(\s*"' + re.escape(rule_id) + r'"\s*\)', text)
    return text.count("\n", 0, match.start()) + 1 if match else 0


# A trial evaluation at load: the schema validator rules out type errors, but a policy can still fail at
# run time (an overflow, an extension call). Cedar skips a policy that errors, which for a forbid means
# failing open, so a framework that errors on ordinary facts must never be installed.
_TRIAL_RECORD = RecordFacts(
    record_id="trial",
    schema="Person",
    tlp="AMBER",
    handling="H2",
    source_reliability="B",
    info_accuracy=2,
    origin_country="US",
    origin_agency="us_dea",
    partner_originated=True,
    originator_consent=False,
    personal_data=True,
    us_person=True,
    legal_basis="criminal_investigation",
    purpose="criminal_investigation",
    criminal_predicate=True,
    sensitive_categories=("political",),
    sensitive_tied_to_crime=False,
    retention_review=dt.date(2030, 1, 1),
)
_TRIAL_RELEASES = (
    ReleaseFacts(
        recipient_country="MX",
        recipient_agency="mx_fgr",
        recipient_organisation="mx_fgr",
        recipient_law_enforcement=True,
        recipient_equivalent_rules=True,
        purpose="criminal_investigation",
        legal_basis="routine_use",
        need_to_know=True,
        right_to_know=True,
        foreign_initiated=True,
        authorisation_record="trial",
        fields=("name",),
    ),
    ReleaseFacts(
        recipient_country="US",
        recipient_agency="us_fbi",
        recipient_organisation="task_force",
        recipient_law_enforcement=False,
        recipient_equivalent_rules=False,
        purpose="imminent_threat",
        legal_basis="",
        need_to_know=False,
        right_to_know=False,
        imminent_danger=True,
    ),
)


def _trial(framework: Framework) -> None:
    for release in _TRIAL_RELEASES:
        request = batch(framework.country, (_TRIAL_RECORD,), release, dt.date(2026, 1, 1))
        results = cedarpy.is_authorized_batch(
            list(request.requests), framework.policies, request.entities_json, schema=framework.schema
        )
        errors = [e for result in results for e in result.diagnostics.errors]
        if errors:
            raise ConfigurationError(
                "The {country} policies fail when evaluated: {err}",
                details=[{"message": str(e)} for e in errors],
                country=framework.country,
                err=str(errors[0]),
            )
