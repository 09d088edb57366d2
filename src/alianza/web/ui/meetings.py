"""Meeting pages: the calendar of the implementation group, a meeting's record, and its decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as InputError
from starlette.datastructures import FormData

from alianza.accounts.permissions import Permission, require
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import meetings as meeting_service
from alianza.cooperation.schemas import DecisionInput, MeetingInput
from alianza.errors import ConflictError, ValidationError
from alianza.i18n import gettext_for
from alianza.vocab import vocabulary
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import (
    Problem,
    ViewerDep,
    domain_problems,
    input_problems,
    lines,
    many,
    optional,
    page,
    see_other,
    text,
    ticked,
)

router = APIRouter()


@router.get("/meetings", response_class=HTMLResponse)
def list_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        meetings = meeting_service.list_meetings(session, viewer.user)
        upcoming = meeting_service.next_meeting(session)
        return page(request, "meetings/list.html", viewer, meetings=list(reversed(meetings)), upcoming=upcoming)


# ---------------------------------------------------------------------------------------------------- create


def _meeting_values(form: FormData | None = None) -> dict[str, Any]:
    if form is None:
        return {"agencies": [], "illustrative": False}
    return {
        "title_en": text(form, "title_en"),
        "title_es": text(form, "title_es"),
        "date": text(form, "date"),
        "place": text(form, "place"),
        "chairs": text(form, "chairs"),
        "agencies": many(form, "agencies"),
        "agenda_en": text(form, "agenda_en"),
        "agenda_es": text(form, "agenda_es"),
        "minutes_en": text(form, "minutes_en"),
        "minutes_es": text(form, "minutes_es"),
        "next_meeting_date": text(form, "next_meeting_date"),
        "source": text(form, "source"),
        "illustrative": ticked(form, "illustrative"),
    }


def _meeting_form(
    request: Request,
    viewer: Viewer,
    values: Mapping[str, Any],
    problems: Sequence[Problem] = (),
    status_code: int = 200,
) -> HTMLResponse:
    return page(request, "meetings/form.html", viewer, status_code=status_code, problems=problems, values=values)


@router.get("/meetings/new", response_class=HTMLResponse)
def new_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    require(viewer.user, Permission.EDIT_COOPERATION)
    return _meeting_form(request, viewer, _meeting_values())


@router.post("/meetings", response_model=None)
async def create(request: Request, viewer: ViewerDep) -> Response:
    values = _meeting_values(await request.form())
    raw = {k: v for k, v in values.items() if v != "" or k in ("title_en", "title_es", "place")}
    raw["chairs"] = lines(values["chairs"])
    try:
        data = MeetingInput.model_validate(raw)
    except InputError as exc:
        return _meeting_form(request, viewer, values, input_problems(exc, viewer.lang), 422)
    try:
        with node_of(request).db.transaction() as session:
            meeting_id = meeting_service.create_meeting(session, viewer.user, data).id
    except ValidationError as exc:
        return _meeting_form(request, viewer, values, domain_problems(exc, viewer.lang), exc.http_status)
    return see_other(f"/meetings/{meeting_id}")


# ---------------------------------------------------------------------------------------------------- detail


def _detail(
    request: Request,
    viewer: Viewer,
    meeting_id: int,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        meeting = meeting_service.get_meeting(session, viewer.user, meeting_id)
        # A decision can only move a commitment that existed on the meeting's date.
        commitments = commitment_service.list_commitments(session, viewer.user)
        candidates = [c for c in commitments if c.origin_date <= meeting.date]
        created_here = [c for c in commitments if c.origin_meeting_id == meeting.id]
        return page(
            request,
            "meetings/detail.html",
            viewer,
            status_code=status_code,
            problems=problems,
            meeting=meeting,
            candidates=candidates,
            created_here=created_here,
            values=values or {},
            settable_statuses=[s.code for s in vocabulary().settable_statuses()],
        )


@router.get("/meetings/{meeting_id:int}", response_class=HTMLResponse)
def detail_page(request: Request, viewer: ViewerDep, meeting_id: int) -> HTMLResponse:
    return _detail(request, viewer, meeting_id)


def _decision_values(form: FormData) -> dict[str, Any]:
    return {
        "text_en": text(form, "text_en"),
        "text_es": text(form, "text_es"),
        "commitment": text(form, "commitment"),
        "updates.status": text(form, "updates.status"),
        "updates.progress": text(form, "updates.progress"),
        "updates.note": text(form, "updates.note"),
        "illustrative": ticked(form, "illustrative"),
    }


def _decision_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form as a DecisionInput. The commitment option is ``id:version``: the version the user saw, so a
    decision recorded on an out-of-date page is a conflict instead of a silent overwrite."""
    raw: dict[str, Any] = {
        "text_en": values["text_en"],
        "text_es": values["text_es"],
        "illustrative": values["illustrative"],
    }
    if values["commitment"]:
        commitment_id, _sep, version = values["commitment"].partition(":")
        raw["updates_commitment_id"] = commitment_id
        raw["updates"] = {
            "version": version or "0",
            "status": optional(values["updates.status"]),
            "progress": optional(values["updates.progress"]),
            "note": values["updates.note"],
        }
    return raw


# A service problem about the change belongs next to the change's fields in the decision form.
_DECISION_FIELDS = {"status": "updates.status", "progress": "updates.progress", "updates_commitment_id": "commitment"}


@router.post("/meetings/{meeting_id:int}/decisions", response_model=None)
async def add_decision(request: Request, viewer: ViewerDep, meeting_id: int) -> Response:
    values = _decision_values(await request.form())
    try:
        data = DecisionInput.model_validate(_decision_input(values))
    except InputError as exc:
        problems = [
            {**p, "field": "commitment" if p["field"].startswith("updates_commitment") else p["field"]}
            for p in input_problems(exc, viewer.lang)
        ]
        return _detail(request, viewer, meeting_id, status_code=422, problems=problems, values=values)
    try:
        with node_of(request).db.transaction() as session:
            meeting_service.add_decision(session, viewer.user, meeting_id, data)
    except ConflictError as exc:
        message = exc.render(gettext_for(viewer.lang))
        return _detail(
            request,
            viewer,
            meeting_id,
            status_code=409,
            values=values,
            problems=[{"field": "commitment", "message": message}],
        )
    except ValidationError as exc:
        problems = [
            {**p, "field": _DECISION_FIELDS.get(p["field"], p["field"])} for p in domain_problems(exc, viewer.lang)
        ]
        return _detail(request, viewer, meeting_id, status_code=exc.http_status, problems=problems, values=values)
    return see_other(f"/meetings/{meeting_id}#decisions")
