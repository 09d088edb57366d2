"""JSON shapes of the API's resources (one place, so the API and its docs agree)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alianza.cooperation.commitments import effective_status
from alianza.cooperation.indicators import progress
from alianza.cooperation.models import (
    Commitment,
    Decision,
    Evidence,
    FollowUp,
    Indicator,
    Meeting,
    Observation,
)


def _d(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def followup(f: FollowUp) -> dict[str, Any]:
    return {
        "id": f.id,
        "at": _d(f.created_at),
        "author": f.author.username if f.author else None,
        "kind": f.kind,
        "changes": f.changes,
        "note": f.note,
        "meeting_id": f.meeting_id,
        "illustrative": f.illustrative,
    }


def evidence(e: Evidence) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "title": e.title,
        "url": e.url or f"/api/v1/evidence/{e.id}",
        "filename": e.filename,
        "content_type": e.content_type,
        "size": e.size,
        "sha256": e.sha256,
        "at": _d(e.created_at),
    }


def commitment(c: Commitment, *, full: bool = False, today: dt.date | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "title": {"en": c.title_en, "es": c.title_es},
        "description": {"en": c.description_en, "es": c.description_es},
        "areas": c.areas,
        "country": c.country,
        "lead_agency": c.lead_agency,
        "supporting_agencies": c.supporting_agencies,
        "origin": {
            "meeting_id": c.origin_meeting_id,
            "date": _d(c.origin_date),
            "kind": "meeting" if c.origin_meeting_id else "statement",
        },
        "due_date": _d(c.due_date),
        "status": c.status,
        "effective_status": effective_status(c, today),
        "progress": c.progress,
        "indicator_codes": c.indicator_codes,
        "source": c.source,
        "illustrative": c.illustrative,
        "version": c.version,
        "updated_at": _d(c.updated_at),
    }
    if full:
        out["followups"] = [followup(f) for f in c.followups]
        out["evidence"] = [evidence(e) for e in c.evidence]
    return out


def decision(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "text": {"en": d.text_en, "es": d.text_es},
        "kind": d.kind,
        "commitment_id": d.commitment_id,
    }


def meeting(m: Meeting, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "title": {"en": m.title_en, "es": m.title_es},
        "date": _d(m.date),
        "place": m.place,
        "chairs": m.chairs,
        "agencies": m.agencies,
        "next_meeting_date": _d(m.next_meeting_date),
        "source": m.source,
        "illustrative": m.illustrative,
        "version": m.version,
    }
    if full:
        out["agenda"] = {"en": m.agenda_en, "es": m.agenda_es}
        out["minutes"] = {"en": m.minutes_en, "es": m.minutes_es}
        out["decisions"] = [decision(d) for d in m.decisions]
    return out


def observation(o: Observation) -> dict[str, Any]:
    return {
        "date": _d(o.date),
        "value": o.value,
        "period": {"en": o.period_en, "es": o.period_es},
        "source": o.source,
        "source_url": o.source_url,
        "note": {"en": o.note_en, "es": o.note_es},
        "illustrative": o.illustrative,
    }


def indicator(i: Indicator, *, full: bool = False) -> dict[str, Any]:
    p = progress(i)
    out: dict[str, Any] = {
        "code": i.code,
        "name": {"en": i.name_en, "es": i.name_es},
        "unit": {"en": i.unit_en, "es": i.unit_es},
        "area": i.area,
        "direction": i.direction,
        "source": i.source,
        "baseline": {"value": i.baseline_value, "date": _d(i.baseline_date)},
        "target": {"value": i.target_value, "date": _d(i.target_date), "illustrative": i.target_illustrative},
        "latest": observation(p.latest) if p.latest else None,
        "change": p.change,
        "progress": p.fraction,
        "improving": p.improving,
    }
    if full:
        out["description"] = {"en": i.description_en, "es": i.description_es}
        out["observations"] = [observation(o) for o in i.observations]
    return out
