"""The dashboard: what the coordinators look at first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alianza.cooperation import dashboard as dashboard_service
from alianza.cooperation.charts import trend_svg
from alianza.cooperation.indicators import Progress, progress
from alianza.cooperation.models import Indicator
from alianza.i18n import Lang
from alianza.vocab import vocabulary
from alianza.web.context import node_of
from alianza.web.ui.common import ViewerDep, page

router = APIRouter()


def indicator_chart(indicator: Indicator, lang: Lang, *, width: int = 320, height: int = 120) -> str:
    """The trend chart of an indicator as inline SVG, titled and described in the reader's language."""
    name = indicator.name_es if lang == "es" else indicator.name_en
    unit = indicator.unit_es if lang == "es" else indicator.unit_en
    return trend_svg(
        indicator.observations, title=name, unit=unit, width=width, height=height, target=indicator.target_value
    )


def is_illustrative(indicator: Indicator) -> bool:
    return indicator.target_illustrative or any(o.illustrative for o in indicator.observations)


def progress_of(indicators: list[Indicator]) -> dict[str, Progress]:
    return {i.code: progress(i) for i in indicators}


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        board = dashboard_service.build(session, viewer.user)
        # Areas with commitments first, in the vocabulary's order, so the table reads like the statement.
        areas = [code for code in vocabulary().areas if code in board.by_area_status]
        return page(
            request,
            "dashboard.html",
            viewer,
            board=board,
            areas=areas,
            statuses=list(vocabulary().statuses),
            charts={i.code: indicator_chart(i, viewer.lang) for i in board.indicators},
            progress=progress_of(board.indicators),
            indicator_illustrative={i.code: is_illustrative(i) for i in board.indicators},
        )
