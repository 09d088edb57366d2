"""API of the follow-up mechanism. Each handler is one transaction calling one domain service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from alianza.cooperation import calendar, dashboard, reports
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import indicators as indicator_service
from alianza.cooperation import meetings as meeting_service
from alianza.cooperation.commitments import CommitmentFilter
from alianza.cooperation.schemas import (
    CommitmentInput,
    CommitmentPatch,
    DecisionInput,
    IndicatorInput,
    LinkInput,
    MeetingInput,
    MeetingPatch,
    NoteInput,
    ObservationInput,
)
from alianza.errors import NotFoundError, UploadError, ValidationError
from alianza.i18n import normalise_lang
from alianza.web.api import views
from alianza.web.auth import api_viewer
from alianza.web.context import Viewer, node_of

router = APIRouter(tags=["cooperation"])
ViewerDep = Annotated[Viewer, Depends(api_viewer)]


@router.get("/commitments")
def list_commitments(
    request: Request,
    viewer: ViewerDep,
    area: str | None = None,
    country: Literal["US", "MX"] | None = None,
    status: str | None = None,
    agency: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    flt = CommitmentFilter(area=area, country=country, status=status, agency=agency, text=q)
    with node_of(request).db.reading() as session:
        return [views.commitment(c) for c in commitment_service.list_commitments(session, viewer.user, flt)]


@router.post("/commitments", status_code=201)
def create_commitment(request: Request, viewer: ViewerDep, body: CommitmentInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.commitment(commitment_service.create_commitment(session, viewer.user, body), full=True)


@router.get("/commitments/{commitment_id}")
def get_commitment(request: Request, viewer: ViewerDep, commitment_id: int) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        return views.commitment(commitment_service.read_commitment(session, viewer.user, commitment_id), full=True)


@router.patch("/commitments/{commitment_id}")
def update_commitment(request: Request, viewer: ViewerDep, commitment_id: int, body: CommitmentPatch) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        c = commitment_service.update_commitment(session, viewer.user, commitment_id, body)
        return views.commitment(c, full=True)


@router.post("/commitments/{commitment_id}/followups", status_code=201)
def add_followup(request: Request, viewer: ViewerDep, commitment_id: int, body: NoteInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.followup(commitment_service.add_note(session, viewer.user, commitment_id, body.note))


@router.post("/commitments/{commitment_id}/evidence/link", status_code=201)
def add_link(request: Request, viewer: ViewerDep, commitment_id: int, body: LinkInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.evidence(commitment_service.add_link(session, viewer.user, commitment_id, body))


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """Read at most one byte past the limit, so an oversized upload is refused without filling memory."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadError(
            "The file is larger than the limit of {limit} MiB. Upload a smaller file or a link instead.",
            limit=round(max_bytes / 2**20, 1),
        )
    return data


@router.post("/commitments/{commitment_id}/evidence/file", status_code=201)
async def add_file(
    request: Request,
    viewer: ViewerDep,
    commitment_id: int,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    node = node_of(request)
    data = await read_upload(file, node.settings.upload_max_bytes)
    with node.db.transaction() as session:
        evidence = commitment_service.add_file(
            session,
            viewer.user,
            commitment_id,
            filename=file.filename or "",
            content_type=file.content_type,
            data=data,
            upload_dir=node.settings.upload_dir,
            max_bytes=node.settings.upload_max_bytes,
            title=title,
        )
        return views.evidence(evidence)


@router.get("/evidence/{evidence_id}", response_model=None)
def get_evidence(request: Request, viewer: ViewerDep, evidence_id: int) -> Response:
    node = node_of(request)
    with node.db.reading() as session:
        e = commitment_service.get_evidence(session, viewer.user, evidence_id)
        session.expunge(e)
    if e.kind == "link":
        return RedirectResponse(e.url)
    path = commitment_service.evidence_path(node.settings.upload_dir, e.sha256)
    if not path.exists():
        raise NotFoundError(
            "The file of evidence {id} is missing from the node's upload folder; tell the operator.", id=evidence_id
        )
    return FileResponse(path, media_type=e.content_type, filename=e.filename)


@router.get("/meetings")
def list_meetings(request: Request, viewer: ViewerDep) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [views.meeting(m) for m in meeting_service.list_meetings(session, viewer.user)]


@router.get("/meetings.ics", response_class=Response)
def meetings_calendar(request: Request, viewer: ViewerDep, lang: str | None = None) -> Response:
    node = node_of(request)
    with node.db.reading() as session:
        body = calendar.meetings_ical(
            meeting_service.list_meetings(session, viewer.user),
            normalise_lang(lang or viewer.lang),
            node.settings.node_name,
        )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="alianza-meetings.ics"'},
    )


@router.post("/meetings", status_code=201)
def create_meeting(request: Request, viewer: ViewerDep, body: MeetingInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.meeting(meeting_service.create_meeting(session, viewer.user, body), full=True)


@router.get("/meetings/{meeting_id}")
def get_meeting(request: Request, viewer: ViewerDep, meeting_id: int) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        return views.meeting(meeting_service.get_meeting(session, viewer.user, meeting_id), full=True)


@router.get("/meetings/{meeting_id}/ics", response_class=Response)
def meeting_calendar(request: Request, viewer: ViewerDep, meeting_id: int, lang: str | None = None) -> Response:
    node = node_of(request)
    with node.db.reading() as session:
        meeting = meeting_service.get_meeting(session, viewer.user, meeting_id)
        body = calendar.meetings_ical([meeting], normalise_lang(lang or viewer.lang), node.settings.node_name)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'},
    )


@router.patch("/meetings/{meeting_id}")
def update_meeting(request: Request, viewer: ViewerDep, meeting_id: int, body: MeetingPatch) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.meeting(meeting_service.update_meeting(session, viewer.user, meeting_id, body), full=True)


@router.post("/meetings/{meeting_id}/decisions", status_code=201)
def add_decision(request: Request, viewer: ViewerDep, meeting_id: int, body: DecisionInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.decision(meeting_service.add_decision(session, viewer.user, meeting_id, body))


@router.get("/indicators")
def list_indicators(request: Request, viewer: ViewerDep) -> list[dict[str, Any]]:
    with node_of(request).db.reading() as session:
        return [views.indicator(i) for i in indicator_service.list_indicators(session, viewer.user)]


@router.post("/indicators", status_code=201)
def create_indicator(request: Request, viewer: ViewerDep, body: IndicatorInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.indicator(indicator_service.create_indicator(session, viewer.user, body), full=True)


@router.get("/indicators/{code}")
def get_indicator(request: Request, viewer: ViewerDep, code: str) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        return views.indicator(indicator_service.get_indicator(session, viewer.user, code), full=True)


@router.post("/indicators/{code}/observations", status_code=201)
def observe(request: Request, viewer: ViewerDep, code: str, body: ObservationInput) -> dict[str, Any]:
    with node_of(request).db.transaction() as session:
        return views.observation(indicator_service.observe(session, viewer.user, code, body))


@router.get("/dashboard")
def get_dashboard(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    with node_of(request).db.reading() as session:
        board = dashboard.build(session, viewer.user)
        return {
            "today": board.today.isoformat(),
            "total": board.total,
            "by_status": dict(board.by_status),
            "by_area_status": {area: dict(counts) for area, counts in board.by_area_status.items()},
            "overdue": [views.commitment(c, today=board.today) for c in board.overdue],
            "due_soon": [views.commitment(c, today=board.today) for c in board.due_soon],
            "next_meeting": {
                "date": board.next_meeting_date.isoformat() if board.next_meeting_date else None,
                "meeting_id": board.next_meeting.id if board.next_meeting else None,
            },
            "indicators": [views.indicator(i) for i in board.indicators],
        }


@router.get("/reports/progress", response_class=Response)
def progress_report(
    request: Request,
    viewer: ViewerDep,
    start: Annotated[dt.date, Query(alias="from")],
    end: Annotated[dt.date, Query(alias="to")],
    lang: Literal["en", "es"] | None = None,
    format: Literal["html", "pdf"] = "html",
) -> Response:
    if end < start:
        raise ValidationError(
            "The report period ends ({end}) before it starts ({start}).",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    with node_of(request).db.reading() as session:
        report = reports.build_report(session, viewer.user, start, end, lang or viewer.lang, node_of(request).settings)
    name = f"alianza-report-{report.lang}-{start.isoformat()}-{end.isoformat()}"
    if format == "pdf":
        return Response(
            reports.render_pdf(report),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return Response(reports.render_html(report), media_type="text/html; charset=utf-8")
