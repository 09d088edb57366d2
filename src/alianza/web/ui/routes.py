"""The server-rendered bilingual UI: one router per concept, gathered here for the application."""

from fastapi import APIRouter

from alianza.web.ui import commitments, dashboard, indicators, meetings, reports, session

router = APIRouter(include_in_schema=False)
for part in (session, dashboard, commitments, meetings, indicators, reports):
    router.include_router(part.router)
