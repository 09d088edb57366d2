"""The report page: a form whose submission is the report itself, produced by the API."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alianza.cooperation.schemas import STATEMENT_DATE
from alianza.web.ui.common import ViewerDep, page

router = APIRouter()


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    # The default period runs from the joint statement to today: the whole life of the mechanism.
    return page(
        request, "reports.html", viewer, default_from=STATEMENT_DATE.isoformat(), default_to=dt.date.today().isoformat()
    )
