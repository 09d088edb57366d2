"""Indicator pages: the trends the mechanism follows, each figure with its public source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as InputError
from starlette.datastructures import FormData

from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import indicators as indicator_service
from alianza.cooperation.schemas import ObservationInput
from alianza.errors import ValidationError
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import Problem, ViewerDep, domain_problems, input_problems, page, see_other, text, ticked
from alianza.web.ui.dashboard import indicator_chart, is_illustrative, progress_of

router = APIRouter()


@router.get("/indicators", response_class=HTMLResponse)
def list_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        indicators = indicator_service.list_indicators(session, viewer.user)
        return page(
            request,
            "indicators/list.html",
            viewer,
            indicators=indicators,
            progress=progress_of(indicators),
            charts={i.code: indicator_chart(i, viewer.lang) for i in indicators},
            indicator_illustrative={i.code: is_illustrative(i) for i in indicators},
        )


def _detail(
    request: Request,
    viewer: Viewer,
    code: str,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        indicator = indicator_service.get_indicator(session, viewer.user, code)
        linked = [
            c for c in commitment_service.list_commitments(session, viewer.user) if indicator.code in c.indicator_codes
        ]
        return page(
            request,
            "indicators/detail.html",
            viewer,
            status_code=status_code,
            problems=problems,
            i=indicator,
            p=indicator_service.progress(indicator),
            linked=linked,
            chart=indicator_chart(indicator, viewer.lang, width=640, height=220),
            illustrative=is_illustrative(indicator),
            values=values or {"illustrative": False},
        )


@router.get("/indicators/{code}", response_class=HTMLResponse)
def detail_page(request: Request, viewer: ViewerDep, code: str) -> HTMLResponse:
    return _detail(request, viewer, code)


def _observation_values(form: FormData) -> dict[str, Any]:
    names = ("date", "value", "source", "source_url", "period_en", "period_es", "note_en", "note_es")
    return {name: text(form, name) for name in names} | {"illustrative": ticked(form, "illustrative")}


@router.post("/indicators/{code}/observations", response_model=None)
async def observe(request: Request, viewer: ViewerDep, code: str) -> Response:
    values = _observation_values(await request.form())
    # An empty date or value is "missing" (not "not a date"); the source stays even when empty: it is required.
    raw = {k: v for k, v in values.items() if v != "" or k == "source"}
    try:
        data = ObservationInput.model_validate(raw)
    except InputError as exc:
        return _detail(request, viewer, code, status_code=422, problems=input_problems(exc, viewer.lang), values=values)
    try:
        with node_of(request).db.transaction() as session:
            indicator_service.observe(session, viewer.user, code, data)
    except ValidationError as exc:
        problems = [{**p, "field": p["field"] or "date"} for p in domain_problems(exc, viewer.lang)]
        return _detail(request, viewer, code, status_code=exc.http_status, problems=problems, values=values)
    return see_other(f"/indicators/{code}#observations")
