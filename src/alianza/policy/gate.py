"""The release gate: evaluate a proposed release against the node's framework and explain the answer.

For each record the gate asks Cedar four questions in one batched call, one per action the policy files
use (see ``frameworks/schema.cedarschema``):

- ``release``: does any forbid fire? Then ``deny``, and the forbids that fired are the reasons (deny
  overrides any permit). Otherwise the permits that fired are the legal grounds. If nothing fires at all,
  Cedar denies by default and the gate says so with the ``NO-PERMIT`` reason.
- ``release_without_review``: do review rules fire? Then ``needs_approval`` with those rules.
- ``obligation``: which duties attach to the release (dissemination log, accounting, SRE/SSPC report)?
- ``redaction``: which fields must be removed?

A policy that errors while evaluating is skipped by Cedar, which for a forbid would mean letting the
release through; the gate refuses to decide instead (fail closed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

import cedarpy

from alianza.errors import ConfigurationError, ValidationError
from alianza.policy.decision import SEVERITY, Decision, Obligation, Outcome, Redaction, RuleHit
from alianza.policy.encoding import Action, batch
from alianza.policy.facts import RecordFacts, ReleaseFacts
from alianza.policy.frameworks import Framework

NO_PERMIT = RuleHit(
    id="NO-PERMIT",
    reason_en="No rule of the framework allows this release, and Cedar denies what no rule allows.",
    reason_es="Ninguna regla del marco permite esta entrega, y Cedar deniega lo que ninguna regla permite.",
    cite="",
)


def decide(framework: Framework, record: RecordFacts, release: ReleaseFacts, today: dt.date) -> Decision:
    """Decide the release of one record on ``today`` (the date the review-or-purge and due dates use)."""
    return _evaluate(framework, (record,), release, today)[0]


def decide_many(
    framework: Framework, records: Sequence[RecordFacts], release: ReleaseFacts, today: dt.date
) -> Decision:
    """Decide a release of several records: one denied record denies the whole release.

    The records are evaluated in a single Cedar call. The combined decision names, for its outcome, the
    rules that decided each record with that outcome (``RuleHit.record_ids`` says which); ``per_record``
    keeps every record's own decision so the UI can say which record to drop or redact.
    """
    if not records:
        raise ValidationError("A release needs at least one record.")
    per_record = _evaluate(framework, records, release, today)
    return combine(framework, per_record)


def combine(framework: Framework, decisions: Sequence[Decision]) -> Decision:
    """Deny overrides needs_approval, which overrides allow; obligations and redactions are merged."""
    outcome: Outcome = max((d.outcome for d in decisions), key=SEVERITY.__getitem__)
    deciding = [d for d in decisions if d.outcome == outcome]
    released = () if outcome == "deny" else decisions
    return Decision(
        outcome=outcome,
        framework=framework.country,
        record_ids=tuple(rid for d in decisions for rid in d.record_ids),
        rules=_merge(framework, (h for d in deciding for h in d.rules)),
        grounds=_merge(framework, (h for d in decisions if d.outcome != "deny" for h in d.grounds)),
        obligations=_merge(framework, (o for d in released for o in d.obligations)),
        redactions=_merge(framework, (r for d in released for r in d.redactions)),
        per_record=tuple(decisions),
    )


def _evaluate(
    framework: Framework, records: Sequence[RecordFacts], release: ReleaseFacts, today: dt.date
) -> list[Decision]:
    ids = [r.record_id for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ValidationError("Record {record_id} appears twice in the release.", record_id=duplicate)
    request = batch(framework.country, records, release, today)
    results = cedarpy.is_authorized_batch(
        list(request.requests), framework.policies, request.entities_json, schema=framework.schema
    )
    answers: dict[str, dict[Action, tuple[bool, list[str]]]] = {rid: {} for rid in ids}
    for (record_id, action), result in zip(request.keys, results, strict=True):
        if result.diagnostics.errors:
            raise ConfigurationError(
                "The {country} policies could not evaluate record {record_id}; nothing is released: {err}",
                details=[{"message": str(e)} for e in result.diagnostics.errors],
                country=framework.country,
                record_id=record_id,
                err=str(result.diagnostics.errors[0]),
            )
        allowed = result.decision == cedarpy.Decision.Allow
        answers[record_id][action] = (allowed, [i for i in result.diagnostics.reasons if i in framework.by_id])
    return [_record_decision(framework, r.record_id, answers[r.record_id], today) for r in records]


def _record_decision(
    framework: Framework, record_id: str, answers: dict[Action, tuple[bool, list[str]]], today: dt.date
) -> Decision:
    one = (record_id,)
    rules = framework.by_id
    allowed, fired = answers["release"]
    if not allowed:
        # With no forbid firing, Cedar's reasons are empty and the denial is its default: say so.
        hits = _sorted(framework, (rules[i].hit(one) for i in fired)) or (replace(NO_PERMIT, record_ids=one),)
        return Decision(outcome="deny", framework=framework.country, record_ids=one, rules=hits)
    grounds = _sorted(framework, (rules[i].hit(one) for i in fired))
    # release_without_review has only forbids, so it never allows: what matters is which of them fired.
    review = _sorted(framework, (rules[i].hit(one) for i in answers["release_without_review"][1]))
    obligations = tuple(
        Obligation(
            id=rule.id,
            kind=rule.obligation or rule.id,
            reason_en=rule.reason_en,
            reason_es=rule.reason_es,
            cite=rule.cite,
            due=today + dt.timedelta(days=rule.due_days) if rule.due_days is not None else None,
            record_ids=one,
        )
        for rule in (rules[i] for i in answers["obligation"][1])
    )
    redactions = tuple(
        Redaction(rule.id, rule.redact, rule.reason_en, rule.reason_es, rule.cite, one)
        for rule in (rules[i] for i in answers["redaction"][1])
    )
    return Decision(
        outcome="needs_approval" if review else "allow",
        framework=framework.country,
        record_ids=one,
        rules=review or grounds,
        grounds=grounds,
        obligations=_sorted(framework, obligations),
        redactions=_sorted(framework, redactions),
    )


Item = TypeVar("Item", RuleHit, Obligation, Redaction)


def _sorted(framework: Framework, items: Iterable[Item]) -> tuple[Item, ...]:
    """Framework order (file, then position), so the same facts always read the same way."""
    return tuple(sorted(items, key=lambda item: framework.order.get(item.id, -1)))


def _merge(framework: Framework, items: Iterable[Item]) -> tuple[Item, ...]:
    """One entry per rule across the records of a release, listing every record it applies to."""
    merged: dict[str, Item] = {}
    for item in items:
        prior = merged.get(item.id)
        merged[item.id] = item if prior is None else replace(prior, record_ids=prior.record_ids + item.record_ids)
    return _sorted(framework, merged.values())
