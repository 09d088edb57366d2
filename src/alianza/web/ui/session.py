"""Signing in and out, and the English/Spanish switch.

Login CSRF (an attacker signing a victim into the attacker's account) is not stopped by the SameSite session
cookie, because that cookie is only *set* by the login response. The login form therefore carries a
double-submit token: GET /login puts a random value in a ``SameSite=Strict`` HttpOnly cookie scoped to /login and
in a hidden field, and POST /login accepts only when both agree. A cross-site form can neither read the cookie
nor make the browser send it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alianza.accounts import service as accounts
from alianza.errors import AuthenticationError, NotFoundError
from alianza.i18n import LANGS, gettext_for
from alianza.web.auth import SESSION_COOKIE
from alianza.web.context import node_of, request_lang
from alianza.web.ui.common import N_, ViewerDep, page, safe_next, see_other, text

router = APIRouter()

LOGIN_COOKIE = "alianza_login"
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
LOGIN_COOKIE_SECONDS = 12 * 3600

REASONS = {
    "expired": N_("Your session expired; please sign in again."),
    "required": N_("Please sign in to continue."),
    "signed_out": N_("You have signed out."),
}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    *,
    next_url: str | None,
    notice: str = "",
    error: str = "",
    username: str = "",
    status_code: int = 200,
    fresh_token: bool = False,
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_COOKIE)
    if fresh_token or not token:
        token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_token=token,
        next_url=safe_next(next_url),
        notice=notice,
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, reason: str | None = None, next: str | None = None) -> HTMLResponse:
    _ = gettext_for(request_lang(request))
    notice = _(REASONS[reason]) if reason in REASONS else ""
    return _login_page(request, next_url=next, notice=notice)


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(request: Request) -> Response:
    form = await request.form()
    _ = gettext_for(request_lang(request))
    username = text(form, "username")
    raw_password = form.get("password")
    password = raw_password if isinstance(raw_password, str) else ""
    next_url = text(form, "next")
    sent, expected = text(form, "login_token"), request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(
            request,
            next_url=next_url,
            username=username,
            status_code=403,
            fresh_token=True,
            error=_("The sign-in form expired or was sent from another site; please sign in again."),
        )
    node = node_of(request)
    try:
        with node.db.transaction() as session:
            user = accounts.authenticate(session, username, password)
            previous = request.cookies.get(SESSION_COOKIE)
            if previous:  # never keep two sessions in one browser, e.g. when a colleague signs in after you
                accounts.close_session(session, previous)
            token, _row = accounts.open_session(session, user, node.settings.session_minutes)
    except AuthenticationError as exc:
        return _login_page(request, next_url=next_url, username=username, status_code=401, error=exc.render(_))
    response = see_other(safe_next(next_url))
    # No max-age: the browser forgets the cookie when it closes, and the server-side expiry still applies,
    # so a user who comes back late is told that the session expired instead of just being asked to sign in.
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="lax", secure=_secure(request))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    # The profile's language applies after signing in; the switch saves the choice in the profile.
    response.delete_cookie(LANG_COOKIE, path="/")
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, viewer: ViewerDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    with node_of(request).db.transaction() as session:
        accounts.close_session(session, token)
    response = see_other("/login?reason=signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _check_lang(code: str) -> None:
    if code not in LANGS:
        raise NotFoundError("Not found.")


def _with_lang_cookie(response: Response, request: Request, code: str) -> Response:
    response.set_cookie(
        LANG_COOKIE, code, max_age=LANG_COOKIE_SECONDS, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


@router.get("/lang/{code}", response_model=None)
def switch_language_link(request: Request, code: str, next: str | None = None) -> Response:
    """The switch for people not signed in (the login page): a cookie only, since a GET must not write."""
    _check_lang(code)
    return _with_lang_cookie(see_other(safe_next(next)), request, code)


@router.post("/lang/{code}", response_model=None)
async def switch_language(request: Request, code: str, viewer: ViewerDep) -> Response:
    """The switch of a signed-in user: the cookie for this browser, the profile for the next sign-in."""
    _check_lang(code)
    form = await request.form()
    with node_of(request).db.transaction() as session:
        accounts.set_language(session, viewer.user, code)
    return _with_lang_cookie(see_other(safe_next(text(form, "next"))), request, code)
