"""The release gate: each country's legal framework as Cedar policy files, and decisions that explain themselves.

Every record that leaves a node passes the gate of that node's framework (``load_framework("US")`` or
``load_framework("MX")``: the rules both countries apply in ``frameworks/common/`` plus the country's own).
The gate answers one of three outcomes:

``deny``
    The law does not allow the release. Any forbid on ``Action::"release"`` that fires denies, whatever
    permits also apply (deny overrides), and the decision names every forbid that fired.
``needs_approval``
    The law allows the release only if a person makes a specific legal finding the facts cannot show:
    that the imminent danger is real, that the requesting authority is competent, that the Ministerio
    Público approved, that an unreliable source is worth sharing. These review rules are forbids on a
    second action, ``Action::"release_without_review"``; the decision names the ones that fired, which
    are the findings the reviewer must record.
``allow``
    The law allows the release; the decision names the permits (legal grounds) that apply.

In Alianza every release still goes to a legal reviewer who is not the proposer (four eyes), so ``allow``
does not mean "sent": it means the law allows it and the review is routine. ``needs_approval`` means the
reviewer must make, and record, the findings named by the rules.

Besides the outcome, a decision carries **obligations** (permits on ``Action::"obligation"``: the 28 CFR 23
dissemination log, the Privacy Act accounting of disclosures, the report to SRE and SSPC due three days
after an exchange with foreign agents) and **redactions** (permits on ``Action::"redaction"``: fields to
remove before the record leaves). The gate only states them; the caller logs, accounts, schedules the
report and removes the fields in the same transaction as the release.

Public interface: ``RecordFacts``, ``ReleaseFacts``, ``load_framework``, ``decide``, ``decide_many`` and the
``Decision`` they return; ``decision_table`` runs the YAML tables that specify each framework.
"""

from __future__ import annotations

from alianza.policy.decision import Decision, Obligation, Outcome, Redaction, RuleHit
from alianza.policy.facts import RecordFacts, ReleaseFacts
from alianza.policy.frameworks import Framework, Rule, load_framework
from alianza.policy.gate import decide, decide_many

__all__ = [
    "Decision",
    "Framework",
    "Obligation",
    "Outcome",
    "RecordFacts",
    "Redaction",
    "ReleaseFacts",
    "Rule",
    "RuleHit",
    "decide",
    "decide_many",
    "load_framework",
]
