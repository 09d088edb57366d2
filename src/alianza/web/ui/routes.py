"""The server-rendered bilingual UI: one router per concept, gathered here for the application."""

from fastapi import APIRouter

from alianza.web.ui import audit, commitments, dashboard, indicators, meetings, records, releases, reports, session

router = APIRouter(include_in_schema=False)
for part in (session, dashboard, commitments, meetings, indicators, reports, records, releases, audit):
    router.include_router(part.router)
