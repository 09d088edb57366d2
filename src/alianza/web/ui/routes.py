"""The server-rendered bilingual UI: one router per concept, gathered here for the application."""

from fastapi import APIRouter

from alianza.web.ui import (
    audit,
    commitments,
    dashboard,
    federation,
    indicators,
    matching,
    meetings,
    records,
    releases,
    reports,
    screening,
    session,
)

router = APIRouter(include_in_schema=False)
for part in (session, dashboard, commitments, meetings, indicators, reports, records, releases, audit, federation):
    router.include_router(part.router)
router.include_router(matching.router)
router.include_router(screening.router)
