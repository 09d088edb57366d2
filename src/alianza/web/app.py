"""The FastAPI application of a node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alianza import __version__
from alianza.federation.delivery import Courier
from alianza.node import Node
from alianza.web import errors
from alianza.web.api import cooperation as api_cooperation
from alianza.web.api import federation as api_federation
from alianza.web.api import matching as api_matching
from alianza.web.api import records as api_records
from alianza.web.api import screening as api_screening
from alianza.web.api import system as api_system
from alianza.web.api import taxii as api_taxii
from alianza.web.bodylimit import BodyLimitMiddleware
from alianza.web.ui import routes as ui_routes

API_PREFIX = "/api/v1"


def create_app(node: Node, *, courier: bool = False) -> FastAPI:
    """The node's app; with ``courier`` the federation delivery loop runs beside it (``alianza serve``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        running = Courier(node) if courier else None
        if running is not None:
            running.start()
        try:
            yield
        finally:
            if running is not None:
                running.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title=f"Alianza — {node.settings.node_name}",
        version=__version__,
        description="Follow-up mechanism of the US–Mexico security cooperation: commitments, meetings, "
        "follow-ups, indicators and reports. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `alianza token create`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.node = node
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, limit=node.settings.body_limit)
    app.include_router(api_system.router, prefix=API_PREFIX)
    app.include_router(api_cooperation.router, prefix=API_PREFIX)
    app.include_router(api_records.router, prefix=API_PREFIX)
    app.include_router(api_matching.router, prefix=API_PREFIX)
    app.include_router(api_screening.router, prefix=API_PREFIX)
    app.include_router(api_federation.router)
    app.include_router(api_taxii.router)
    app.include_router(ui_routes.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
