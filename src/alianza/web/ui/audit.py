"""Audit pages: the log, the verification of its chain, the accounting of disclosures, the retention review.

Auditors and admins read them; the audit views refuse everyone else (READ_AUDIT), and the chain check, which
the trail does not guard itself, is guarded here the same way. The disclosures are read from the chain's
``record.disclosed`` entries, so the accounting is exactly as trustworthy as the verified log.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alianza.accounts.permissions import Permission, require
from alianza.audit import log as audit_log
from alianza.audit import views as audit_views
from alianza.errors import NotFoundError
from alianza.i18n import gettext_for
from alianza.records import service as records
from alianza.records.models import Record
from alianza.web.context import node_of
from alianza.web.ui.common import N_, ViewerDep
from alianza.web.ui.records import show

router = APIRouter()

PAGE_SIZE = 50
WITHIN_DAYS = (30, 90, 365)

#: The actions written to the log, as an auditor reads them (an action not listed is shown as its code).
ACTIONS: dict[str, str] = {
    "record.created": N_("Record created"),
    "record.updated": N_("Record updated"),
    "record.viewed_bulk": N_("Records viewed in bulk"),
    "record.imported": N_("Record imported"),
    "record.received": N_("Record received from the partner"),
    "record.purged": N_("Record purged"),
    "record.disclosed": N_("Record disclosed"),
    "record.recalled_by_partner": N_("Record recalled by the partner"),
    "policy.decision": N_("Release gate decision"),
    "release.proposed": N_("Release proposed"),
    "release.approved": N_("Release approved"),
    "release.refused": N_("Release refused"),
    "release.recalled": N_("Release recalled"),
    "request.received": N_("Request received"),
    "request.repeated": N_("Request repeated by the partner (the first one stands)"),
    "request.answered": N_("Request answered"),
    "request.refused": N_("Request refused"),
    "request.response_received": N_("Partner's answer received"),
    "federation.delivered": N_("Delivered to the partner"),
    "federation.refused_by_partner": N_("Refused by the partner"),
    "partner.key_rotated": N_("Partner key rotated"),
    "partner.history_changed": N_("Partner history changed"),
}


def _details(details: dict[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)


@router.get("/audit", response_class=HTMLResponse)
def log_page(request: Request, viewer: ViewerDep, after: int = 0, action: str = "") -> HTMLResponse:
    after = max(after, 0)
    gettext = gettext_for(viewer.lang)
    with node_of(request).db.reading() as session:
        entries = audit_views.entries(session, viewer.user, after=after, limit=PAGE_SIZE + 1, action=action or None)
        total = audit_log.count(session)
        more = len(entries) > PAGE_SIZE
        entries = entries[:PAGE_SIZE]
        actions = [(code, gettext(label)) for code, label in ACTIONS.items()]
        if action and action not in ACTIONS:
            actions.append((action, action))
        return show(
            request,
            "audit/log.html",
            viewer,
            entries=entries,
            after=after,
            action=action,
            actions=actions,
            action_labels=dict(actions),
            total=total,
            next_after=entries[-1].seq if more and entries else None,
            # Without a filter the sequence has no gaps, so the last page starts at a known number.
            last_after=max(total - PAGE_SIZE, 0) if not action else None,
            page_size=PAGE_SIZE,
            details=_details,
        )


@router.get("/audit/verify", response_class=HTMLResponse)
def verify_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    require(viewer.user, Permission.READ_AUDIT)  # the trail's verify does not check the reader itself
    node = node_of(request)
    gettext = gettext_for(viewer.lang)
    with node.db.reading() as session:
        result = node.trail.verify(session)
    return show(
        request,
        "audit/verify.html",
        viewer,
        result=result,
        problems_found=[(p.seq, p.kind, p.message(gettext)) for p in result.problems],
        key_id=node.identity.key_id,
    )


@router.get("/audit/disclosures", response_class=HTMLResponse)
def disclosures_page(request: Request, viewer: ViewerDep, us_persons: str = "", record: str = "") -> HTMLResponse:
    only_us = us_persons in ("1", "on", "true", "yes")
    with node_of(request).db.reading() as session:
        found = audit_views.disclosures(session, viewer.user, us_persons_only=only_us, record_id=record.strip() or None)
        captions: dict[str, Record] = {}
        for record_id in {d.record_id for d in found}:
            try:
                captions[record_id] = records.get_record(session, viewer.user, record_id)
            except NotFoundError:
                continue  # shown by its id
        return show(
            request,
            "audit/disclosures.html",
            viewer,
            disclosures=found,
            captions=captions,
            us_persons=only_us,
            record=record.strip(),
        )


@router.get("/audit/retention", response_class=HTMLResponse)
def retention_page(request: Request, viewer: ViewerDep, within_days: int = 30) -> HTMLResponse:
    within = within_days if within_days in WITHIN_DAYS else WITHIN_DAYS[0]
    with node_of(request).db.reading() as session:
        queue = records.retention_queue(session, viewer.user, within)
        return show(
            request,
            "audit/retention.html",
            viewer,
            queue=queue,
            within=within,
            choices_days=WITHIN_DAYS,
        )
