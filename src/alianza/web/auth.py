"""Authentication for the API (bearer tokens or the browser session) and the UI (session cookie + CSRF).

Bearer tokens need no CSRF token because a browser never sends them on its own; a cookie-authenticated
call that changes something must carry the session's CSRF token (form field or X-CSRF-Token header).
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alianza.accounts import service as accounts
from alianza.errors import AuthenticationError, CsrfError
from alianza.web.context import Viewer, node_of, request_lang

SESSION_COOKIE = "alianza_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _from_session(request: Request) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationError("Please sign in.")
    node = node_of(request)
    with node.db.transaction() as session:
        row = accounts.resolve_session(session, token)
        user, csrf = row.user, row.csrf_token
        accounts.extend_session(session, token, node.settings.session_minutes)
        session.expunge(user)
    return Viewer(user=user, lang=request_lang(request, user), csrf_token=csrf)


async def check_csrf(request: Request, viewer: Viewer) -> None:
    if request.method in SAFE_METHODS or viewer.csrf_token is None:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, viewer.csrf_token):
        raise CsrfError("The form's security token is missing or stale; reload the page and try again.")


_bearer = HTTPBearer(auto_error=False, description="An API token from `alianza token create`")


async def api_viewer(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Viewer:
    """The API caller: a bearer token, or a browser session that proves itself with the CSRF header."""
    if credentials is not None:
        with node_of(request).db.reading() as session:
            user = accounts.resolve_token(session, credentials.credentials.strip())
            session.expunge(user)
        viewer = Viewer(user=user, lang=request_lang(request, user), csrf_token=None)
    else:
        viewer = _from_session(request)
        await check_csrf(request, viewer)
    request.state.viewer = viewer
    return viewer


async def ui_viewer(request: Request) -> Viewer:
    """The browser user; a missing or expired session is turned into a redirect to the login page."""
    viewer = _from_session(request)
    request.state.viewer = viewer  # set first, so even a CSRF error page speaks the user's language
    await check_csrf(request, viewer)
    return viewer
