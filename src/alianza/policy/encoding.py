"""How facts become a Cedar request: the node is the principal, each record a resource, the release the context.

Kept apart from the gate so that loading a framework can run a trial evaluation with the very same
encoding the gate uses, and so that the mapping from Python names to policy attributes is in one place
(the schema in ``frameworks/schema.cedarschema`` is its other half).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from alianza.policy.facts import RecordFacts, ReleaseFacts

Action = Literal["release", "release_without_review", "obligation", "redaction"]
#: Every action a policy may name, in the order the gate asks them for each record.
ACTIONS: tuple[Action, ...] = ("release", "release_without_review", "obligation", "redaction")


@dataclass(frozen=True, slots=True)
class Batch:
    """One ``is_authorized_batch`` call: the entities, and the requests in (record, action) order."""

    entities_json: str
    requests: tuple[dict[str, Any], ...]
    keys: tuple[tuple[str, Action], ...]


def _datetime(day: dt.date) -> dict[str, Any]:
    return {"__extn": {"fn": "datetime", "arg": day.isoformat()}}


def record_entity(record: RecordFacts) -> dict[str, Any]:
    return {
        "uid": {"type": "Record", "id": record.record_id},
        "attrs": {
            "schema": record.schema,
            "tlp": record.tlp,
            "handling": record.handling,
            "source_reliability": record.source_reliability,
            "info_accuracy": record.info_accuracy,
            "origin_country": record.origin_country,
            "origin_agency": record.origin_agency,
            "partner_originated": record.partner_originated,
            "originator_consent": record.originator_consent,
            "personal_data": record.personal_data,
            "us_person": record.us_person,
            "legal_basis": record.legal_basis,
            "purpose": record.purpose,
            "criminal_predicate": record.criminal_predicate,
            "sensitive_categories": list(record.sensitive_categories),
            "sensitive_tied_to_crime": record.sensitive_tied_to_crime,
            "retention_review": _datetime(record.retention_review),
        },
        "parents": [],
    }


def release_context(release: ReleaseFacts, today: dt.date) -> dict[str, Any]:
    context: dict[str, Any] = {
        "today": _datetime(today),
        "recipient_country": release.recipient_country,
        "recipient_agency": release.recipient_agency,
        "recipient_organisation": release.recipient_organisation,
        "recipient_law_enforcement": release.recipient_law_enforcement,
        "recipient_equivalent_rules": release.recipient_equivalent_rules,
        "purpose": release.purpose,
        "legal_basis": release.legal_basis,
        "need_to_know": release.need_to_know,
        "right_to_know": release.right_to_know,
        "imminent_danger": release.imminent_danger,
        "foreign_initiated": release.foreign_initiated,
        "data_subject_consent": release.data_subject_consent,
        "judicial_use": release.judicial_use,
        "onward_permission": release.onward_permission,
        "fields": list(release.fields),
    }
    if release.authorisation_record is not None:
        # Optional in the schema: policies test ``context has authorisation_record``.
        context["authorisation_record"] = release.authorisation_record
    return context


def batch(country: str, records: Sequence[RecordFacts], release: ReleaseFacts, today: dt.date) -> Batch:
    """Every request needed to decide ``records``: one per action per record, answered in one call."""
    node = {"type": "Node", "id": country}
    entities = [{"uid": node, "attrs": {"country": country}, "parents": []}]
    entities += [record_entity(r) for r in records]
    context = release_context(release, today)
    requests = []
    keys = []
    for record in records:
        resource = {"type": "Record", "id": record.record_id}
        for action in ACTIONS:
            requests.append(
                {
                    "principal": node,
                    "action": {"type": "Action", "id": action},
                    "resource": resource,
                    "context": context,
                }
            )
            keys.append((record.record_id, action))
    return Batch(json.dumps(entities), tuple(requests), tuple(keys))
