"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``; the UI gets pages."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from alianza.errors import AlianzaError, AuthenticationError, SessionExpiredError, render_problem
from alianza.i18n import gettext_for
from alianza.web.context import request_lang

logger = logging.getLogger("alianza.web")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/federation/v1/"))


def _translate_details(details: Any, gettext: Any) -> Any:
    """Per-field messages in the reader's language; the template and its parameters stay server-side."""
    if isinstance(details, list):
        return [
            {k: v for k, v in d.items() if k not in ("template", "params")} | {"message": render_problem(d, gettext)}
            if isinstance(d, dict) and "message" in d
            else d
            for d in details
        ]
    return details


def _lang(request: Request) -> Any:
    viewer = getattr(request.state, "viewer", None)
    return viewer.lang if viewer is not None else request_lang(request)


def install(app: FastAPI) -> None:
    @app.exception_handler(AlianzaError)
    async def _alianza(request: Request, exc: AlianzaError) -> Response:
        gettext = gettext_for(_lang(request))
        if not _is_api(request) and isinstance(exc, AuthenticationError):
            reason = "expired" if isinstance(exc, SessionExpiredError) else "required"
            return RedirectResponse(f"/login?reason={reason}&next={quote(request.url.path)}", status_code=303)
        if not _is_api(request):
            from alianza.web.ui.pages import render_error

            return render_error(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(
            error_body(exc.code, exc.render(gettext), _translate_details(exc.details, gettext)),
            status_code=exc.http_status,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged with its traceback for the operator; the client gets the one error shape and no internals.
        logger.exception("Unexpected error on %s %s", request.method, request.url.path)
        gettext = gettext_for(_lang(request))
        return JSONResponse(
            error_body("internal_error", gettext("Something went wrong on the server; the operator has the details.")),
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        gettext = gettext_for(_lang(request))
        return JSONResponse(
            error_body("validation_error", gettext("The request is not valid; see details for each field."), details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        gettext = gettext_for(request_lang(request))
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = gettext("Not found.") if exc.status_code == 404 else str(exc.detail)
        if not _is_api(request) and exc.status_code == 404:
            from alianza.errors import NotFoundError
            from alianza.web.ui.pages import render_error

            return render_error(request, NotFoundError("Not found."))
        return JSONResponse(error_body(codes.get(exc.status_code, "http_error"), message), status_code=exc.status_code)
