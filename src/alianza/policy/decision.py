"""What the release gate answers: an outcome, the rules that decided it, and what a release must carry.

A decision is an explanation, not a yes/no: the legal reviewer sees which rules decided and why in both
languages, the audit log stores it, and the caller performs the obligations and removes the redacted
fields. Decisions are plain frozen values so they can be stored, compared in tests and serialised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from alianza.i18n import Lang, gettext_for

Outcome = Literal["allow", "needs_approval", "deny"]
OUTCOMES: tuple[Outcome, ...] = ("allow", "needs_approval", "deny")

#: Severity order for combining decisions: deny overrides needs_approval, which overrides allow.
SEVERITY: dict[Outcome, int] = {"allow": 0, "needs_approval": 1, "deny": 2}


def N_(message: str) -> str:
    """Mark an English msgid for the catalog without translating it yet (it is translated when shown)."""
    return message


OUTCOME_LABELS: dict[Outcome, str] = {
    "allow": N_("Allowed: the law allows this release; the legal review is routine."),
    "needs_approval": N_("Needs approval: the legal reviewer must make the findings listed below."),
    "deny": N_("Denied: the law does not allow this release."),
}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired, with its reason in both languages and the legal text it rests on."""

    id: str
    reason_en: str
    reason_es: str
    cite: str = ""
    record_ids: tuple[str, ...] = ()

    def reason(self, lang: Lang) -> str:
        return self.reason_es if lang == "es" else self.reason_en


@dataclass(frozen=True, slots=True)
class Obligation:
    """A duty the caller must perform if the release goes ahead (log, accounting, report to SRE/SSPC)."""

    id: str
    kind: str
    reason_en: str
    reason_es: str
    cite: str = ""
    due: dt.date | None = None
    record_ids: tuple[str, ...] = ()

    def reason(self, lang: Lang) -> str:
        return self.reason_es if lang == "es" else self.reason_en


@dataclass(frozen=True, slots=True)
class Redaction:
    """Fields the rule removes from the named records before they leave the node."""

    id: str
    fields: tuple[str, ...]
    reason_en: str
    reason_es: str
    cite: str = ""
    record_ids: tuple[str, ...] = ()

    def reason(self, lang: Lang) -> str:
        return self.reason_es if lang == "es" else self.reason_en


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer for one record, or for a whole release of several (``per_record`` then holds each).

    ``rules`` are the rules that decided: the forbids that fired for ``deny``, the review rules for
    ``needs_approval``, the permits (legal grounds) for ``allow``. ``grounds`` always lists the permits
    that applied, so a reviewer of a ``needs_approval`` also sees what makes the release lawful.
    Obligations and redactions are empty for ``deny``: nothing is released, so nothing is owed.
    """

    outcome: Outcome
    framework: str
    record_ids: tuple[str, ...]
    rules: tuple[RuleHit, ...]
    grounds: tuple[RuleHit, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    redactions: tuple[Redaction, ...] = ()
    per_record: tuple[Decision, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(hit.id for hit in self.rules)

    @property
    def redacted_fields(self) -> tuple[str, ...]:
        """Every field some redaction removes, for a single-record decision or a quick overview."""
        return tuple(sorted({f for r in self.redactions for f in r.fields}))

    def redacted_fields_for(self, record_id: str) -> tuple[str, ...]:
        """The fields to remove from one record of the release."""
        return tuple(sorted({f for r in self.redactions if record_id in r.record_ids for f in r.fields}))

    def obligation(self, kind: str) -> Obligation | None:
        return next((o for o in self.obligations if o.kind == kind), None)

    def reasons(self, lang: Lang = "en") -> tuple[str, ...]:
        """The deciding rules as ``ID: reason`` lines in ``lang``."""
        return tuple(f"{hit.id}: {hit.reason(lang)}" for hit in self.rules)

    def summary(self, lang: Lang = "en") -> str:
        """A short text for the reviewer: the outcome, the deciding rules, obligations and redactions."""
        _ = gettext_for(lang)
        lines = [_(OUTCOME_LABELS[self.outcome])]
        lines += [f"- {line}" for line in self.reasons(lang)]
        for o in self.obligations:
            due = " " + _("Due by {date}.").format(date=o.due.isoformat()) if o.due else ""
            lines.append(_("Obligation {id}: {reason}").format(id=o.id, reason=o.reason(lang)) + due)
        for r in self.redactions:
            lines.append(
                _("Remove {fields} ({id}): {reason}").format(fields=", ".join(r.fields), id=r.id, reason=r.reason(lang))
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the API and the audit log."""

        def hit(h: RuleHit) -> dict[str, Any]:
            return {
                "id": h.id,
                "reason_en": h.reason_en,
                "reason_es": h.reason_es,
                "cite": h.cite,
                "record_ids": list(h.record_ids),
            }

        return {
            "outcome": self.outcome,
            "framework": self.framework,
            "record_ids": list(self.record_ids),
            "rules": [hit(h) for h in self.rules],
            "grounds": [hit(h) for h in self.grounds],
            "obligations": [
                {
                    **hit(RuleHit(o.id, o.reason_en, o.reason_es, o.cite, o.record_ids)),
                    "kind": o.kind,
                    "due": o.due.isoformat() if o.due else None,
                }
                for o in self.obligations
            ],
            "redactions": [
                {**hit(RuleHit(r.id, r.reason_en, r.reason_es, r.cite, r.record_ids)), "fields": list(r.fields)}
                for r in self.redactions
            ],
            "per_record": [d.to_dict() for d in self.per_record],
        }
