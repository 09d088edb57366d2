"""Shared page helpers: the error page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from alianza.errors import AlianzaError
from alianza.i18n import gettext_for
from alianza.web.context import request_lang
from alianza.web.templating import render


def render_error(request: Request, exc: AlianzaError) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    lang = viewer.lang if viewer else request_lang(request)
    gettext = gettext_for(lang)
    details = exc.details if isinstance(exc.details, list) else []
    return render(
        request,
        "error.html",
        viewer,
        status_code=exc.http_status,
        lang=lang,
        message=exc.render(gettext),
        details=details,
        code=exc.code,
    )
