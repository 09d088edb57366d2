"""Commitment pages: the list with its filters, the detail with its timeline and evidence, the forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from fastapi import APIRouter, Request
from fastapi import UploadFile as FastAPIUploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as InputError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from alianza.accounts.permissions import Permission, require
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import indicators as indicator_service
from alianza.cooperation import meetings as meeting_service
from alianza.cooperation.commitments import TRACKED_FIELDS, CommitmentFilter
from alianza.cooperation.models import Commitment
from alianza.cooperation.schemas import CommitmentInput, CommitmentPatch, LinkInput
from alianza.errors import ConflictError, ValidationError
from alianza.i18n import gettext_for
from alianza.vocab import vocabulary
from alianza.web.api.cooperation import read_upload
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import (
    Problem,
    ViewerDep,
    by_field,
    domain_problems,
    input_problems,
    many,
    optional,
    page,
    see_other,
    term_text,
    text,
    ticked,
)

router = APIRouter()

STATEMENT = "statement"
_LIST_FIELDS = ("areas", "supporting_agencies", "indicator_codes")


# ---------------------------------------------------------------------------------------------------- list


@router.get("/commitments", response_class=HTMLResponse)
def list_page(
    request: Request,
    viewer: ViewerDep,
    area: str = "",
    country: str = "",
    status: str = "",
    agency: str = "",
    q: str = "",
) -> HTMLResponse:
    filters = {
        "area": area,
        "country": country if country in ("US", "MX") else "",
        "status": status,
        "agency": agency,
        "q": q.strip(),
    }
    flt = CommitmentFilter(
        area=filters["area"] or None,
        country=filters["country"] or None,
        status=filters["status"] or None,
        agency=filters["agency"] or None,
        text=filters["q"] or None,
    )
    with node_of(request).db.reading() as session:
        items = commitment_service.list_commitments(session, viewer.user, flt)
        return page(
            request, "commitments/list.html", viewer, items=items, filters=filters, filtered=any(filters.values())
        )


# ---------------------------------------------------------------------------------------------------- create


def _form_choices(session: Session, viewer: Viewer) -> dict[str, Any]:
    """What the commitment form offers: meetings as origins, indicators to link, settable statuses."""
    return {
        "meetings": meeting_service.list_meetings(session, viewer.user),
        "indicators": indicator_service.list_indicators(session, viewer.user),
        "status_options": [(s.code, s.text(viewer.lang)) for s in vocabulary().settable_statuses()],
    }


def _new_values(form: FormData | None = None) -> dict[str, Any]:
    if form is None:
        return {
            "origin": STATEMENT,
            "status": "proposed",
            "progress": "0",
            "areas": [],
            "supporting_agencies": [],
            "indicator_codes": [],
            "illustrative": False,
        }
    return {
        "title_en": text(form, "title_en"),
        "title_es": text(form, "title_es"),
        "description_en": text(form, "description_en"),
        "description_es": text(form, "description_es"),
        "areas": many(form, "areas"),
        "country": text(form, "country"),
        "lead_agency": text(form, "lead_agency"),
        "supporting_agencies": many(form, "supporting_agencies"),
        "origin": text(form, "origin") or STATEMENT,
        "due_date": text(form, "due_date"),
        "status": text(form, "status"),
        "progress": text(form, "progress"),
        "indicator_codes": many(form, "indicator_codes"),
        "source": text(form, "source"),
        "illustrative": ticked(form, "illustrative"),
    }


def _new_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as the schema's input: an empty optional field is left out so its default applies."""
    raw: dict[str, Any] = {k: v for k, v in values.items() if k != "origin" and v != ""}
    if values["origin"] != STATEMENT:
        raw["origin_meeting_id"] = values["origin"]
    return raw


def _new_form(
    request: Request,
    viewer: Viewer,
    values: Mapping[str, Any],
    problems: Sequence[Problem] = (),
    status_code: int = 200,
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        return page(
            request,
            "commitments/form.html",
            viewer,
            status_code=status_code,
            problems=problems,
            values=values,
            mode="new",
            action="/commitments",
            **_form_choices(session, viewer),
        )


@router.get("/commitments/new", response_class=HTMLResponse)
def new_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    require(viewer.user, Permission.EDIT_COOPERATION)  # do not offer a form the service would refuse
    return _new_form(request, viewer, _new_values())


@router.post("/commitments", response_model=None)
async def create(request: Request, viewer: ViewerDep) -> Response:
    values = _new_values(await request.form())
    try:
        data = CommitmentInput.model_validate(_new_input(values))
    except InputError as exc:
        problems = [
            {**p, "field": "origin" if p["field"] == "origin_meeting_id" else p["field"]}
            for p in input_problems(exc, viewer.lang)
        ]
        return _new_form(request, viewer, values, problems, 422)
    try:
        with node_of(request).db.transaction() as session:
            commitment_id = commitment_service.create_commitment(session, viewer.user, data).id
    except ValidationError as exc:
        problems = [
            {**p, "field": "origin" if p["field"] == "origin_meeting_id" else p["field"]}
            for p in domain_problems(exc, viewer.lang)
        ]
        return _new_form(request, viewer, values, problems, exc.http_status)
    return see_other(f"/commitments/{commitment_id}")


# ---------------------------------------------------------------------------------------------------- detail


def _detail(
    request: Request, viewer: Viewer, commitment_id: int, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        commitment = commitment_service.read_commitment(session, viewer.user, commitment_id)
        indicators = [
            i for i in indicator_service.list_indicators(session, viewer.user) if i.code in commitment.indicator_codes
        ]
        return page(
            request,
            "commitments/detail.html",
            viewer,
            status_code=status_code,
            c=commitment,
            linked_indicators=indicators,
            allowed_uploads=sorted(commitment_service.ALLOWED_UPLOADS),
            upload_limit_mib=round(node_of(request).settings.upload_max_bytes / 2**20, 1),
            **extra,
        )


@router.get("/commitments/{commitment_id:int}", response_class=HTMLResponse)
def detail_page(request: Request, viewer: ViewerDep, commitment_id: int) -> HTMLResponse:
    return _detail(request, viewer, commitment_id)


@router.post("/commitments/{commitment_id:int}/followups", response_model=None)
async def add_followup(request: Request, viewer: ViewerDep, commitment_id: int) -> Response:
    note = text(await request.form(), "note")
    try:
        with node_of(request).db.transaction() as session:
            commitment_service.add_note(session, viewer.user, commitment_id, note)
    except ValidationError as exc:
        problems = [{**p, "field": "note"} for p in domain_problems(exc, viewer.lang)]
        return _detail(
            request, viewer, commitment_id, status_code=exc.http_status, note_errors=by_field(problems), note_value=note
        )
    return see_other(f"/commitments/{commitment_id}#timeline")


@router.post("/commitments/{commitment_id:int}/evidence", response_model=None)
async def add_evidence(request: Request, viewer: ViewerDep, commitment_id: int) -> Response:
    form = await request.form()
    kind: Literal["link", "file"] = "link" if text(form, "kind") == "link" else "file"
    title = text(form, "title")
    node = node_of(request)
    _ = gettext_for(viewer.lang)
    problems: list[Problem] = []
    status_code = 422
    try:
        if kind == "link":
            try:
                link = LinkInput(title=title, url=text(form, "url"))
            except InputError as exc:
                problems = input_problems(exc, viewer.lang)
            else:
                with node.db.transaction() as session:
                    commitment_service.add_link(session, viewer.user, commitment_id, link)
        else:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                problems = [{"field": "file", "message": _("Choose a file to upload.")}]
            else:
                # read_upload only reads from the upload; the form gives Starlette's class, which FastAPI's extends.
                data = await read_upload(cast(FastAPIUploadFile, upload), node.settings.upload_max_bytes)
                with node.db.transaction() as session:
                    commitment_service.add_file(
                        session,
                        viewer.user,
                        commitment_id,
                        filename=upload.filename,
                        content_type=upload.content_type,
                        data=data,
                        upload_dir=node.settings.upload_dir,
                        max_bytes=node.settings.upload_max_bytes,
                        title=title,
                    )
    except ValidationError as exc:  # the upload errors (too large, type not allowed) included
        status_code = exc.http_status
        field = "file" if kind == "file" else ""
        problems = [{**p, "field": p["field"] or field} for p in domain_problems(exc, viewer.lang)]
    if problems:
        return _detail(
            request,
            viewer,
            commitment_id,
            status_code=status_code,
            evidence_kind=kind,
            evidence_errors=by_field(problems),
            evidence_values={"title": title, "url": text(form, "url")},
        )
    return see_other(f"/commitments/{commitment_id}#evidence")


# ---------------------------------------------------------------------------------------------------- edit


def _values_of(commitment: Commitment) -> dict[str, Any]:
    """A saved commitment as form values."""
    values = commitment_service.snapshot(commitment)
    values["progress"] = str(values["progress"])
    values["note"] = ""
    return values


def _edit_values(form: FormData) -> dict[str, Any]:
    return {
        "version": text(form, "version"),
        "note": text(form, "note"),
        "title_en": text(form, "title_en"),
        "title_es": text(form, "title_es"),
        "description_en": text(form, "description_en"),
        "description_es": text(form, "description_es"),
        "areas": many(form, "areas"),
        "lead_agency": text(form, "lead_agency"),
        "supporting_agencies": many(form, "supporting_agencies"),
        "due_date": text(form, "due_date"),
        "status": text(form, "status"),
        "progress": text(form, "progress"),
        "indicator_codes": many(form, "indicator_codes"),
        "illustrative": ticked(form, "illustrative"),
    }


def _edit_form(
    request: Request,
    viewer: Viewer,
    commitment_id: int,
    values: Mapping[str, Any] | None = None,
    problems: Sequence[Problem] = (),
    status_code: int = 200,
    conflict: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        commitment = commitment_service.read_commitment(session, viewer.user, commitment_id)
        moves = (commitment.status, *vocabulary().statuses[commitment.status].next)
        return page(
            request,
            "commitments/form.html",
            viewer,
            status_code=status_code,
            problems=problems,
            values=values or _values_of(commitment),
            mode="edit",
            c=commitment,
            action=f"/commitments/{commitment_id}/edit",
            # The status can stay, or move along the transitions the vocabulary allows from the saved one.
            status_options=[(code, term_text("statuses", code, viewer.lang)) for code in moves],
            conflict=conflict,
            meetings=[],
            indicators=indicator_service.list_indicators(session, viewer.user),
        )


@router.get("/commitments/{commitment_id:int}/edit", response_class=HTMLResponse)
def edit_page(request: Request, viewer: ViewerDep, commitment_id: int) -> HTMLResponse:
    require(viewer.user, Permission.EDIT_COOPERATION)
    return _edit_form(request, viewer, commitment_id)


@router.post("/commitments/{commitment_id:int}/edit", response_model=None)
async def edit(request: Request, viewer: ViewerDep, commitment_id: int) -> Response:
    values = _edit_values(await request.form())
    raw = {k: v for k, v in values.items() if k != "status" or v}
    with node_of(request).db.reading() as session:
        saved = commitment_service.read_commitment(session, viewer.user, commitment_id)
        for field in _LIST_FIELDS:
            # Checkboxes come back in the page's order; the same choice in another order is not a change.
            if set(raw[field]) == set(getattr(saved, field)):
                raw[field] = list(getattr(saved, field))
    try:
        patch = CommitmentPatch.model_validate(raw | {"version": optional(values["version"]) or 0})
    except InputError as exc:
        return _edit_form(request, viewer, commitment_id, values, input_problems(exc, viewer.lang), 422)
    try:
        with node_of(request).db.transaction() as session:
            commitment_service.update_commitment(session, viewer.user, commitment_id, patch)
    except ConflictError as exc:
        return _conflict(request, viewer, commitment_id, values, patch, exc)
    except ValidationError as exc:
        return _edit_form(request, viewer, commitment_id, values, domain_problems(exc, viewer.lang), exc.http_status)
    return see_other(f"/commitments/{commitment_id}#timeline")


def _conflict(
    request: Request,
    viewer: Viewer,
    commitment_id: int,
    values: dict[str, Any],
    patch: CommitmentPatch,
    exc: ConflictError,
) -> HTMLResponse:
    """Show the saved version next to the user's, keep the user's input, and let them save it knowingly."""
    details = exc.details if isinstance(exc.details, dict) else {}
    current = details.get("current")
    if not isinstance(current, dict):  # the race caught at flush carries no snapshot: read the saved one
        with node_of(request).db.reading() as session:
            current = commitment_service.snapshot(
                commitment_service.read_commitment(session, viewer.user, commitment_id)
            )
    yours = details.get("yours")
    if not isinstance(yours, dict):
        yours = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in patch.changed_fields().items()}
    rows = [
        {
            "field": field,
            "current": current.get(field),
            "yours": yours.get(field, current.get(field)),
            "differs": field in yours and yours.get(field) != current.get(field),
        }
        for field in TRACKED_FIELDS
    ]
    # Saving again is a deliberate choice on top of the version now saved, so the form carries that version.
    resubmit = {**values, "version": str(current.get("version", ""))}
    conflict = {
        "message": exc.render(gettext_for(viewer.lang)),
        "rows": rows,
        "current_version": current.get("version"),
        "your_version": patch.version,
    }
    return _edit_form(request, viewer, commitment_id, resubmit, (), 409, conflict)
