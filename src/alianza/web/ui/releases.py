"""Release, request and policy pages: propose a release through the gate, the four-eyes review, recalls,
the partner's requests, and the node's legal framework as a lawyer reads it.

The release gate and the review live in ``releases.service``: a denial is shown with the rules that decided
it (nothing is stored but the audited decision), an allowed proposal is held for a legal reviewer who is not
the proposer, and the approval queues the redacted records for delivery in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from alianza.accounts.permissions import Permission, allowed, require
from alianza.errors import ConflictError, NotFoundError, ValidationError
from alianza.federation import outbox
from alianza.i18n import Lang, gettext_for
from alianza.policy.decision import OUTCOME_LABELS
from alianza.policy.frameworks import KINDS as RULE_KINDS
from alianza.records import service as records
from alianza.records.models import Record
from alianza.releases import service as releases
from alianza.releases.models import Release
from alianza.vocab import vocabulary
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import (
    N_,
    Problem,
    ViewerDep,
    by_field,
    domain_problems,
    lines,
    many,
    optional,
    see_other,
    text,
    ticked,
)
from alianza.web.ui.records import (
    agency_options,
    marking_options,
    other_country,
    partner_node,
    show,
    visible_records,
)

router = APIRouter()

RELEASE_STATUSES = {
    "pending_review": N_("Held for review"),
    "approved": N_("Approved"),
    "refused": N_("Refused"),
    "recalled": N_("Recalled"),
}
REQUEST_STATUSES = {"open": N_("Open"), "answered": N_("Answered"), "refused": N_("Refused")}

#: The facts of a release only the proposer can state: (name, label). Ticked by default: the first four,
#: as ``ReleaseProposal`` assumes them.
CONTEXT_BOXES: tuple[tuple[str, str], ...] = (
    ("need_to_know", N_("The recipient needs to know it for its work (need-to-know)")),
    ("right_to_know", N_("The recipient has the legal right to know it (right-to-know)")),
    ("recipient_law_enforcement", N_("The recipient is a law-enforcement, security or prosecution authority")),
    ("recipient_equivalent_rules", N_("The recipient is bound by rules equivalent to ours")),
    ("imminent_danger", N_("There is an imminent danger to life or property")),
    ("foreign_initiated", N_("The release serves an action initiated by a foreign government")),
    ("data_subject_consent", N_("The data subject consented to the transfer")),
    ("judicial_use", N_("The recipient will use it in judicial proceedings")),
    ("onward_permission", N_("The originator gave permission (for judicial use or onward sharing)")),
)
DEFAULT_CONTEXT = ("need_to_know", "right_to_know", "recipient_law_enforcement", "recipient_equivalent_rules")

RULE_GROUPS: dict[str, tuple[str, str]] = {
    "deny": (
        N_("Rules that deny a release"),
        N_("If one of these applies, the release is denied, whatever else applies."),
    ),
    "review": (
        N_("Rules that hold a release for a legal finding"),
        N_("The release may go ahead only after a legal reviewer makes and records the finding the rule names."),
    ),
    "permit": (
        N_("Legal grounds"),
        N_("A release needs at least one of these: what no rule allows is denied."),
    ),
    "obligation": (
        N_("Obligations that come with a release"),
        N_("Duties to perform when a release is approved, with their deadlines."),
    ),
    "redaction": (
        N_("Fields removed before a record leaves"),
        N_("These fields are taken out of the records the rule applies to before they are sent."),
    ),
}


def _statuses(table: Mapping[str, str], lang: Lang) -> list[tuple[str, str]]:
    gettext = gettext_for(lang)
    return [(code, gettext(label)) for code, label in table.items()]


def _captions(rows: Sequence[Record]) -> dict[str, str]:
    return {r.id: r.caption for r in rows}


# ---------------------------------------------------------------------------------------------------- propose


def _blank_values(country: str) -> dict[str, Any]:
    return {
        "record_ids": [],
        "recipient_node": partner_node(country),
        "recipient_agency": "",
        "recipient_organisation": "",
        "purpose": "",
        "legal_basis": "",
        "fields": "",
        "justification": "",
        "authorisation_record": "",
        "request_id": "",
        "context": list(DEFAULT_CONTEXT),
    }


def _form_values(form: FormData) -> dict[str, Any]:
    return {
        "record_ids": many(form, "record_ids"),
        "recipient_node": text(form, "recipient_node"),
        "recipient_agency": text(form, "recipient_agency"),
        "recipient_organisation": text(form, "recipient_organisation"),
        "purpose": text(form, "purpose"),
        "legal_basis": text(form, "legal_basis"),
        "fields": text(form, "fields"),
        "justification": text(form, "justification"),
        "authorisation_record": text(form, "authorisation_record"),
        "request_id": text(form, "request_id"),
        "context": [name for name, _label in CONTEXT_BOXES if ticked(form, name)],
    }


def _proposal(values: Mapping[str, Any]) -> releases.ReleaseProposal:
    request_id = str(values["request_id"])
    return releases.ReleaseProposal(
        record_ids=list(values["record_ids"]),
        recipient_node=str(values["recipient_node"]),
        recipient_agency=str(values["recipient_agency"]),
        purpose=str(values["purpose"]),
        legal_basis=str(values["legal_basis"]),
        fields=lines(str(values["fields"])),
        recipient_organisation=str(values["recipient_organisation"]),
        justification=str(values["justification"]),
        authorisation_record=optional(str(values["authorisation_record"])),
        request_id=int(request_id) if request_id.isdigit() else None,
        **{name: name in values["context"] for name, _label in CONTEXT_BOXES},
    )


def _denial(exc: releases.PolicyDeniedError) -> list[dict[str, Any]]:
    """The gate's reasons as the rule lists of a stored release: {id, reason_en, reason_es, cite, record_ids}."""
    details = exc.details if isinstance(exc.details, list) else []
    return [
        {
            "id": d.get("rule", ""),
            "reason_en": d.get("message", ""),
            "reason_es": d.get("reason_es", ""),
            "cite": d.get("cite", ""),
            "record_ids": list(d.get("records") or []),
        }
        for d in details
        if isinstance(d, dict)
    ]


def _proposal_form(
    request: Request,
    viewer: Viewer,
    values: Mapping[str, Any],
    *,
    problems: Sequence[Problem] = (),
    status_code: int = 200,
    denial: Sequence[Mapping[str, Any]] = (),
) -> HTMLResponse:
    node = node_of(request)
    lang = viewer.lang
    country = node.settings.country
    gettext = gettext_for(lang)
    with node.db.transaction() as session:  # listing the records to choose from is an audited bulk view
        choosable = visible_records(session, viewer, request)
        listed = {r.id for r in choosable}
        chosen: list[Record] = []
        for record_id in values["record_ids"]:
            if record_id in listed:
                continue
            try:  # a pre-filled record beyond the list's limit is still offered
                chosen.append(records.get_record(session, viewer.user, record_id))
            except NotFoundError:
                continue
        selected = set(values["record_ids"])
        ordered = [
            *chosen,
            *(r for r in choosable if r.id in selected),
            *(r for r in choosable if r.id not in selected),
        ]
        answering = None
        if str(values["request_id"]).isdigit():
            answering = releases.get_request(session, viewer.user, int(values["request_id"]))
        return show(
            request,
            "releases/form.html",
            viewer,
            status_code=status_code,
            problems=problems,
            values=values,
            choosable=ordered,
            captions=_captions(ordered),
            answering=answering,
            denial=denial,
            agencies=agency_options(other_country(country), lang),
            purposes=marking_options("purposes", lang),
            grounds=marking_options("release_grounds", lang, country),
            context_boxes=[(name, gettext(label)) for name, label in CONTEXT_BOXES],
        )


@router.get("/releases/new", response_class=HTMLResponse)
def new_release_page(
    request: Request,
    viewer: ViewerDep,
    record_id: Annotated[list[str] | None, Query()] = None,
    request_id: int | None = None,
) -> HTMLResponse:
    require(viewer.user, Permission.PROPOSE_RELEASE)  # do not offer a form the service would refuse
    node = node_of(request)
    values = _blank_values(node.settings.country)
    values["record_ids"] = list(record_id or [])
    if request_id is not None:
        with node.db.reading() as session:
            info = releases.get_request(session, viewer.user, request_id)
            values |= {
                "request_id": str(info.id),
                "record_ids": list(dict.fromkeys([*info.record_ids, *values["record_ids"]])),
                "recipient_node": info.partner,
                "recipient_agency": info.requesting_agency,
                "purpose": info.purpose,
            }
    return _proposal_form(request, viewer, values)


@router.post("/releases", response_model=None)
async def propose(request: Request, viewer: ViewerDep) -> Response:
    values = _form_values(await request.form())
    if not values["recipient_node"]:
        gettext = gettext_for(viewer.lang)
        problems = [{"field": "recipient_node", "message": gettext("This field is required.")}]
        return _proposal_form(request, viewer, values, problems=problems, status_code=422)
    node = node_of(request)
    try:
        release = releases.propose(node.db, viewer.user, node.trail, node.framework, _proposal(values))
    except releases.PolicyDeniedError as exc:
        return _proposal_form(request, viewer, values, status_code=exc.http_status, denial=_denial(exc))
    except ValidationError as exc:
        return _proposal_form(
            request, viewer, values, problems=domain_problems(exc, viewer.lang), status_code=exc.http_status
        )
    return see_other(f"/releases/{release.id}")


# ---------------------------------------------------------------------------------------------------- history


@router.get("/releases", response_class=HTMLResponse)
def list_page(request: Request, viewer: ViewerDep, status: str = "") -> HTMLResponse:
    status = status if status in RELEASE_STATUSES else ""
    with node_of(request).db.reading() as session:
        items = releases.list_releases(session, viewer.user, status or None)
        return show(
            request,
            "releases/list.html",
            viewer,
            items=items,
            status=status,
            statuses=_statuses(RELEASE_STATUSES, viewer.lang),
        )


# ---------------------------------------------------------------------------------------------------- release


def _queued(release: Release, pending: Sequence[outbox.OutboxMessage]) -> bool:
    return any(m.kind == "release" and m.reference == str(release.id) for m in pending)


def _release_page(
    request: Request, viewer: Viewer, release_id: int, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    node = node_of(request)
    lang = viewer.lang
    gettext = gettext_for(lang)
    with node.db.reading() as session:
        release = releases.get_release(session, viewer.user, release_id)
        items: list[dict[str, Any]] = []
        captions: dict[str, str] = {}
        for item in release.items:
            try:
                record = records.get_record(session, viewer.user, item.record_id)
            except NotFoundError:
                items.append({"item": item, "record": None})  # a record the viewer may not see: its id only
                continue
            captions[record.id] = record.caption
            items.append({"item": item, "record": record})
        answering = releases.get_request(session, viewer.user, release.request_id) if release.request_id else None
        user = viewer.user
        return show(
            request,
            "releases/detail.html",
            viewer,
            status_code=status_code,
            rel=release,
            items=items,
            captions=captions,
            answering=answering,
            queued=_queued(release, outbox.pending(session, release.recipient_node)),
            outcome_text=gettext(OUTCOME_LABELS[release.outcome]) if release.outcome in OUTCOME_LABELS else "",
            context_rows=[(gettext(label), bool(release.context.get(name))) for name, label in CONTEXT_BOXES],
            may_review=(
                release.status == "pending_review"
                and user.id != release.proposed_by_id
                and allowed(user, Permission.REVIEW_RELEASE)
            ),
            may_recall=(
                release.status == "approved"
                and (user.id == release.proposed_by_id or allowed(user, Permission.REVIEW_RELEASE))
            ),
            **extra,
        )


@router.get("/releases/{release_id:int}", response_class=HTMLResponse)
def release_page(request: Request, viewer: ViewerDep, release_id: int) -> HTMLResponse:
    return _release_page(request, viewer, release_id)


@router.post("/releases/{release_id:int}/review", response_model=None)
async def review(request: Request, viewer: ViewerDep, release_id: int) -> Response:
    form = await request.form()
    decision, note, version = text(form, "decision"), text(form, "note"), text(form, "version")
    node = node_of(request)
    try:
        if decision not in ("approve", "refuse"):
            raise ValidationError("Choose whether to approve or to refuse the release.")
        with node.db.transaction() as session:
            releases.review(
                session,
                viewer.user,
                node.trail,
                node.framework,
                release_id,
                approve=decision == "approve",
                note=note,
                version=int(version) if version.isdigit() else 0,
            )
    except (ValidationError, ConflictError) as exc:
        problems = [{**p, "field": p["field"] or "note"} for p in domain_problems(exc, viewer.lang)]
        return _release_page(
            request,
            viewer,
            release_id,
            status_code=exc.http_status,
            review_errors=by_field(problems),
            review_note=note,
        )
    return see_other(f"/releases/{release_id}")


@router.post("/releases/{release_id:int}/recall", response_model=None)
async def recall(request: Request, viewer: ViewerDep, release_id: int) -> Response:
    form = await request.form()
    reason, record_ids = text(form, "reason"), many(form, "record_ids")
    node = node_of(request)
    try:
        with node.db.transaction() as session:
            releases.recall(session, viewer.user, node.trail, release_id, reason, record_ids or None)
    except ValidationError as exc:
        problems = [{**p, "field": "reason"} for p in domain_problems(exc, viewer.lang)]
        return _release_page(
            request,
            viewer,
            release_id,
            status_code=exc.http_status,
            recall_errors=by_field(problems),
            recall_reason=reason,
        )
    return see_other(f"/releases/{release_id}")


@router.get("/releases/{release_id:int}/review", response_model=None)
@router.get("/releases/{release_id:int}/recall", response_model=None)
def release_action_get(viewer: ViewerDep, release_id: int) -> Response:
    """The language switch after a refused form comes back here: show the release."""
    return see_other(f"/releases/{release_id}")


# ---------------------------------------------------------------------------------------------------- requests


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, viewer: ViewerDep, status: str = "") -> HTMLResponse:
    status = status if status in REQUEST_STATUSES else ""
    with node_of(request).db.reading() as session:
        items = releases.list_requests(session, viewer.user, status or None)
        return show(
            request,
            "requests/list.html",
            viewer,
            items=items,
            status=status,
            statuses=_statuses(REQUEST_STATUSES, viewer.lang),
        )


def _request_values(form: FormData | None, country: str) -> dict[str, Any]:
    if form is None:
        return {
            "partner": partner_node(country),
            "requesting_agency": "",
            "subject": "",
            "reference": "",
            "purpose": "",
            "record_ids": [],
        }
    return {
        "partner": text(form, "partner"),
        "requesting_agency": text(form, "requesting_agency"),
        "subject": text(form, "subject"),
        "reference": text(form, "reference"),
        "purpose": text(form, "purpose"),
        "record_ids": many(form, "record_ids"),
    }


def _request_form(
    request: Request,
    viewer: Viewer,
    values: Mapping[str, Any],
    problems: Sequence[Problem] = (),
    status_code: int = 200,
) -> HTMLResponse:
    node = node_of(request)
    lang = viewer.lang
    with node.db.transaction() as session:  # listing the records to choose from is an audited bulk view
        choosable = visible_records(session, viewer, request)
        return show(
            request,
            "requests/form.html",
            viewer,
            status_code=status_code,
            problems=problems,
            values=values,
            choosable=choosable,
            agencies=agency_options(other_country(node.settings.country), lang),
            purposes=marking_options("purposes", lang),
        )


@router.get("/requests/new", response_class=HTMLResponse)
def new_request_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    require(viewer.user, Permission.PROPOSE_RELEASE)
    return _request_form(request, viewer, _request_values(None, node_of(request).settings.country))


@router.post("/requests", response_model=None)
async def register(request: Request, viewer: ViewerDep) -> Response:
    require(viewer.user, Permission.PROPOSE_RELEASE)  # as the API: the service itself does not check the role
    node = node_of(request)
    values = _request_values(await request.form(), node.settings.country)
    gettext = gettext_for(viewer.lang)
    vocab = vocabulary()
    problems: list[Problem] = [
        {"field": name, "message": gettext("This field is required.")}
        for name in ("partner", "requesting_agency", "purpose")
        if not values[name]
    ]
    if values["requesting_agency"] and values["requesting_agency"] not in vocab.agencies:
        problems.append({"field": "requesting_agency", "message": gettext("Choose one of the options.")})
    if values["purpose"] and values["purpose"] not in vocab.markings["purposes"]:
        problems.append({"field": "purpose", "message": gettext("Choose one of the options.")})
    if problems:
        return _request_form(request, viewer, values, problems, 422)
    try:
        with node.db.transaction() as session:
            request_id = releases.register_request(session, viewer.user, node.trail, **values).id
    except ValidationError as exc:
        problems = [{**p, "field": p["field"] or "subject"} for p in domain_problems(exc, viewer.lang)]
        return _request_form(request, viewer, values, problems, exc.http_status)
    return see_other(f"/requests/{request_id}")


def _request_page(
    request: Request, viewer: Viewer, request_id: int, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        info = releases.get_request(session, viewer.user, request_id)
        found: list[Record] = []
        missing: list[str] = []
        for record_id in info.record_ids:
            try:
                found.append(records.get_record(session, viewer.user, record_id))
            except NotFoundError:
                missing.append(record_id)
        answers = [r for r in releases.list_releases(session, viewer.user) if r.request_id == info.id]
        return show(
            request,
            "requests/detail.html",
            viewer,
            status_code=status_code,
            q=info,
            found=found,
            missing=missing,
            answers=answers,
            **extra,
        )


@router.get("/requests/{request_id:int}", response_class=HTMLResponse)
def request_page(request: Request, viewer: ViewerDep, request_id: int) -> HTMLResponse:
    return _request_page(request, viewer, request_id)


@router.post("/requests/{request_id:int}/refuse", response_model=None)
async def refuse_request(request: Request, viewer: ViewerDep, request_id: int) -> Response:
    form = await request.form()
    reason, version = text(form, "reason"), text(form, "version")
    node = node_of(request)
    try:
        with node.db.transaction() as session:
            releases.refuse_request(
                session, viewer.user, node.trail, request_id, reason, int(version) if version.isdigit() else 0
            )
    except (ValidationError, ConflictError) as exc:
        problems = [{**p, "field": "reason"} for p in domain_problems(exc, viewer.lang)]
        return _request_page(
            request,
            viewer,
            request_id,
            status_code=exc.http_status,
            refuse_errors=by_field(problems),
            refuse_reason=reason,
        )
    return see_other(f"/requests/{request_id}")


@router.get("/requests/{request_id:int}/refuse", response_model=None)
def refuse_get(viewer: ViewerDep, request_id: int) -> Response:
    """The language switch after a refused form comes back here: show the request."""
    return see_other(f"/requests/{request_id}")


# ---------------------------------------------------------------------------------------------------- policies


@router.get("/policies", response_class=HTMLResponse)
def policies_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    framework = node_of(request).framework
    gettext = gettext_for(viewer.lang)
    groups = [
        {
            "kind": kind,
            "title": gettext(RULE_GROUPS[kind][0]),
            "intro": gettext(RULE_GROUPS[kind][1]),
            "rules": framework.rules_of(kind),
        }
        for kind in RULE_KINDS
        if kind in RULE_GROUPS
    ]
    return show(
        request,
        "policies/list.html",
        viewer,
        framework=framework,
        groups=groups,
    )
