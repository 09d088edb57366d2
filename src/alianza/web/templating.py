"""Jinja2 environment for the UI: every template gets ``_`` (gettext), ``lang``, ``pick`` and the CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from alianza.i18n import Lang, gettext_for, pick
from alianza.vocab import vocabulary
from alianza.web.context import Viewer, node_of, request_lang

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["vocab"] = vocabulary
TEMPLATES.env.globals["pick"] = pick


def render(
    request: Request,
    template: str,
    viewer: Viewer | None = None,
    *,
    status_code: int = 200,
    lang: Lang | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = lang or (viewer.lang if viewer else request_lang(request))
    gettext = gettext_for(lang)
    node = node_of(request)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "_": gettext,
            "lang": lang,
            "other_lang": "es" if lang == "en" else "en",
            "viewer": viewer,
            "user": viewer.user if viewer else None,
            "csrf_token": viewer.csrf_token if viewer else "",
            "node": node.settings,
            **context,
        },
        status_code=status_code,
    )
