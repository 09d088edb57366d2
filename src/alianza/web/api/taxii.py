"""TAXII 2.1 server endpoints under ``/taxii2/``: the HTTP half (what a client may see is ``federation.taxii``).

Endpoints (TAXII 2.1, OASIS Committee Specification 01, section 4): discovery ``GET /taxii2/``; one API root
``GET /taxii2/api/``; ``collections/`` and ``collections/{id}/``; ``objects/`` (filters ``added_after``, ``limit``,
``next``, ``match[id|type|version|spec_version]``), ``objects/{object_id}/``, ``objects/{object_id}/versions/``
and ``manifest/`` of the one collection; ``status/{id}/``. Everything, the discovery resource included, needs
credentials: the node has nothing to say to strangers.

Authentication: HTTP Basic with the username and one of that user's API tokens as the password (what
taxii2-client's ``user``/``password`` and most TAXII tools send), or ``Authorization: Bearer <token>`` as in the
rest of the API. The Basic username must be the token's owner. Account passwords are not accepted here: a poller
stores its secret in a config file, and a token can be revoked without locking the person out. A request
without valid credentials gets 401 with ``WWW-Authenticate: Basic realm="alianza"``.

Media types: every response, errors included, is ``application/taxii+json;version=2.1`` (TAXII 2.1 wraps STIX
in its own envelope, so there is no ``application/stix+json`` response). A request whose ``Accept`` allows
neither that (with or without the version parameter) nor ``*/*``/``application/*`` gets 406; no ``Accept`` at
all is taken as ``*/*``.

The server is read-only: the collection says ``can_write: false``, adding objects (POST) and deleting one
(DELETE) answer 403 as the spec prescribes for a collection the client may not write, any status id is 404,
and other methods answer 405. Errors use the TAXII error message ``{title, description, http_status}``, not
the ``{"error": ...}`` shape of ``/api/v1`` (a TAXII client reads only the former), in the client's language.
The routes are kept out of the OpenAPI description of ``/api/v1``: TAXII describes itself through discovery.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from alianza.accounts import service as accounts
from alianza.errors import AlianzaError, AuthenticationError
from alianza.federation import taxii
from alianza.i18n import Gettext, gettext_for
from alianza.web.context import Viewer, node_of, request_lang

logger = logging.getLogger("alianza.web.taxii")

PREFIX = "/taxii2"
API_ROOT = "api"
REALM = 'Basic realm="alianza"'
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


def N_(message: str) -> str:
    """Marks a message for the catalog; it is translated where it is shown."""
    return message


TITLES = {
    400: N_("Bad request"),
    401: N_("Authentication required"),
    403: N_("Forbidden"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    406: N_("Not acceptable"),
    409: N_("Conflict"),
    413: N_("Request too large"),
    422: N_("Bad request"),
    500: N_("Server error"),
}
NOT_ACCEPTABLE = "This server answers only application/taxii+json;version=2.1; ask for that media type."
NO_CREDENTIALS = "Sign in with HTTP Basic (your username and an API token as the password) or a Bearer token."
WRONG_USER = "The API token does not belong to this username."
READ_ONLY = "This collection is read-only: it holds what this node released to your agency."
METHOD_NOT_ALLOWED = "This endpoint only answers GET."
NO_ENDPOINT = "No TAXII endpoint at this address."
INTERNAL = "Something went wrong on the server; the operator has the details."


class TaxiiProblem(AlianzaError):
    """An HTTP-level refusal of the TAXII endpoints (406, 405, write attempts); its status is per instance."""

    code = "taxii_error"

    def __init__(self, message: str, *, status: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.status = status


# ---------------------------------------------------------------------------------------------- responses


def taxii_json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers, media_type=taxii.MEDIA_TYPE_TAXII)


def taxii_error(request: Request, status: int, description: str) -> JSONResponse:
    """The TAXII 2.1 error message (section 3.6.1); ``http_status`` is a string there."""
    gettext = _gettext(request)
    body = {"title": gettext(TITLES.get(status, TITLES[400])), "description": description, "http_status": str(status)}
    headers = {401: {"WWW-Authenticate": REALM}, 405: {"Allow": "GET"}}.get(status)
    return taxii_json(body, status, headers)


def _gettext(request: Request) -> Gettext:
    viewer = getattr(request.state, "viewer", None)
    return gettext_for(viewer.lang if viewer is not None else request_lang(request))


class TaxiiRoute(APIRoute):
    """Turns every failure of a TAXII endpoint into a TAXII error, whatever the app's own handlers do."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except TaxiiProblem as exc:
                return taxii_error(request, exc.status, exc.render(_gettext(request)))
            except AlianzaError as exc:
                status = 400 if exc.http_status == 422 else exc.http_status
                return taxii_error(request, status, exc.render(_gettext(request)))
            except RequestValidationError:
                gettext = _gettext(request)
                return taxii_error(request, 400, gettext(TITLES[400]))
            except Exception:
                logger.exception("Unexpected error on %s %s", request.method, request.url.path)
                gettext = _gettext(request)
                return taxii_error(request, 500, gettext(INTERNAL))

        return handler


router = APIRouter(prefix=PREFIX, route_class=TaxiiRoute, include_in_schema=False, tags=["taxii"])


# ---------------------------------------------------------------------------------------------- auth and Accept


def _credentials(request: Request) -> tuple[str | None, str]:
    """(username or None for Bearer, token) from the Authorization header."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError(NO_CREDENTIALS) from None
        username, sep, token = decoded.partition(":")
        if sep and token:
            return username, token
    raise AuthenticationError(NO_CREDENTIALS)


def _acceptable(header: str | None) -> bool:
    if not header or not header.strip():
        return True
    for media_range in header.split(","):
        kind, *raw_params = (p.strip() for p in media_range.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params if "=" in p)
        if params.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        kind = kind.lower()
        if kind in ("*/*", "application/*"):
            return True
        if kind == "application/taxii+json" and params.get("version", "2.1").strip().strip('"') == "2.1":
            return True
    return False


def taxii_client(request: Request) -> Viewer:
    """The authenticated client; then the Accept header (a stranger learns nothing, not even the media type)."""
    username, token = _credentials(request)
    with node_of(request).db.reading() as session:
        user = accounts.resolve_token(session, token)
        session.expunge(user)
    if username is not None and username != user.username:
        raise AuthenticationError(WRONG_USER)
    viewer = Viewer(user=user, lang=request_lang(request, user), csrf_token=None)
    request.state.viewer = viewer
    if not _acceptable(request.headers.get("accept")):
        raise TaxiiProblem(NOT_ACCEPTABLE, status=406)
    return viewer


# ---------------------------------------------------------------------------------------------- resources


def _root_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}/{API_ROOT}/"


def _collection(request: Request, viewer: Viewer) -> dict[str, Any]:
    gettext = viewer.gettext
    node = node_of(request)
    return {
        "id": taxii.COLLECTION_ID,
        "title": gettext("Releases from {node}").format(node=node.settings.node_name),
        "description": gettext(
            "The STIX 2.1 objects this node released to your agency ({agency}), as they were sent; "
            "recalled ones are withdrawn."
        ).format(agency=viewer.user.agency),
        "can_read": taxii.can_read(viewer.user),
        "can_write": False,
        "media_types": [taxii.MEDIA_TYPE_STIX],
    }


def _visible(request: Request, viewer: Viewer) -> list[taxii.Served]:
    node = node_of(request)
    with node.db.reading() as session:
        return taxii.visible(
            session, viewer.user, identity_name=node.settings.node_name, node_country=node.settings.country
        )


def _filters(request: Request, *, default_versions: str = "last") -> taxii.Filters:
    query = request.query_params
    match = {
        found.group(1): value
        for key, value in query.items()
        if (found := re.fullmatch(r"match\[(\w+)\]", key)) is not None
    }
    return taxii.Filters.parse(
        added_after=query.get("added_after"),
        limit=query.get("limit"),
        next_token=query.get("next"),
        match=match,
        default_versions=default_versions,
    )


def _date_headers(page: taxii.Page) -> dict[str, str]:
    if page.first_added is None or page.last_added is None:
        return {}
    return {
        "X-TAXII-Date-Added-First": taxii.timestamp(page.first_added),
        "X-TAXII-Date-Added-Last": taxii.timestamp(page.last_added),
    }


def _envelope(page: taxii.Page, key: str, items: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if items:  # TAXII: an empty result is an envelope without the list
        body[key] = items
    return body


def _audit(request: Request, viewer: Viewer, page: taxii.Page) -> None:
    node = node_of(request)
    if any(e.record_id for e in page.entries):
        with node.db.transaction() as session:
            taxii.audit_served(session, node.trail, session.merge(viewer.user), page.entries)


@router.get("/")
def discovery(request: Request, viewer: Viewer = Depends(taxii_client)) -> Response:
    gettext = viewer.gettext
    node = node_of(request)
    root = _root_url(request)
    return taxii_json(
        {
            "title": gettext("Alianza TAXII server of {node}").format(node=node.settings.node_name),
            "description": gettext(
                "STIX 2.1 of what this node of the US–Mexico security-cooperation mechanism released to your agency."
            ),
            "default": root,
            "api_roots": [root],
        }
    )


@router.get(f"/{API_ROOT}/")
def api_root(request: Request, viewer: Viewer = Depends(taxii_client)) -> Response:
    gettext = viewer.gettext
    node = node_of(request)
    return taxii_json(
        {
            "title": gettext("Releases of {node}").format(node=node.settings.node_name),
            "description": gettext("One read-only collection: the records released to your agency."),
            "versions": [taxii.MEDIA_TYPE_TAXII],
            "max_content_length": node.settings.upload_max_bytes,
        }
    )


@router.get(f"/{API_ROOT}/collections/")
def collections(request: Request, viewer: Viewer = Depends(taxii_client)) -> Response:
    return taxii_json({"collections": [_collection(request, viewer)]})


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/")
def collection(request: Request, collection_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    taxii.check_collection(collection_id)
    return taxii_json(_collection(request, viewer))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/")
def objects(request: Request, collection_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    taxii.check_collection(collection_id)
    flt = _filters(request)
    page = taxii.page(_visible(request, viewer), flt)
    _audit(request, viewer, page)
    body = _envelope(page, "objects", [e.obj for e in page.entries])
    return taxii_json(body, headers=_date_headers(page))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/")
def one_object(
    request: Request, collection_id: str, object_id: str, viewer: Viewer = Depends(taxii_client)
) -> Response:
    taxii.check_collection(collection_id)
    flt = _filters(request)
    page = taxii.page(taxii.one_object(_visible(request, viewer), object_id), flt)
    _audit(request, viewer, page)
    body = _envelope(page, "objects", [e.obj for e in page.entries])
    return taxii_json(body, headers=_date_headers(page))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/")
def versions(request: Request, collection_id: str, object_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    taxii.check_collection(collection_id)
    flt = _filters(request, default_versions="all")
    page = taxii.page(taxii.one_object(_visible(request, viewer), object_id), flt)
    body = _envelope(page, "versions", [e.version for e in page.entries])
    return taxii_json(body, headers=_date_headers(page))


@router.get(f"/{API_ROOT}/collections/{{collection_id}}/manifest/")
def manifest(request: Request, collection_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    taxii.check_collection(collection_id)
    flt = _filters(request)
    page = taxii.page(_visible(request, viewer), flt)
    body = _envelope(page, "objects", [e.manifest() for e in page.entries])
    return taxii_json(body, headers=_date_headers(page))


@router.get(f"/{API_ROOT}/status/{{status_id}}/")
def status(status_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    raise taxii.no_status(status_id)


def write(request: Request, collection_id: str, viewer: Viewer = Depends(taxii_client)) -> Response:
    """Add Objects and Delete An Object exist in TAXII 2.1; here the collection is read-only: 403."""
    taxii.check_collection(collection_id)
    if request.method in ("POST", "DELETE"):
        raise TaxiiProblem(READ_ONLY, status=403)
    raise TaxiiProblem(METHOD_NOT_ALLOWED, status=405)


READ_ONLY_PATHS = (
    "/",
    f"/{API_ROOT}/",
    f"/{API_ROOT}/collections/",
    f"/{API_ROOT}/collections/{{collection_id}}/",
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
    f"/{API_ROOT}/collections/{{collection_id}}/manifest/",
    f"/{API_ROOT}/status/{{status_id}}/",
)
WRITABLE_PATHS = (
    f"/{API_ROOT}/collections/{{collection_id}}/objects/",
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/",
)


def not_allowed(viewer: Viewer = Depends(taxii_client)) -> Response:
    raise TaxiiProblem(METHOD_NOT_ALLOWED, status=405)


for _path in READ_ONLY_PATHS:
    router.add_api_route(_path, not_allowed, methods=WRITE_METHODS)
for _path in WRITABLE_PATHS:
    router.add_api_route(_path, write, methods=WRITE_METHODS)

# Every TAXII address as a pattern, for the catch-all: one asked for without its final slash is redirected.
_KNOWN = [re.compile(PREFIX + re.sub(r"\{\w+\}", "[^/]+", path) + "$") for path in READ_ONLY_PATHS + WRITABLE_PATHS]


@router.api_route("/{rest:path}", methods=["GET", *WRITE_METHODS])
def unknown(request: Request, rest: str) -> Response:
    """Unknown addresses under /taxii2/ answer in TAXII, not with the web UI's page (no credentials needed)."""
    path = request.url.path
    if not path.endswith("/") and any(p.match(path + "/") for p in _KNOWN):
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(path + "/" + query, status_code=308)
    gettext = _gettext(request)
    return taxii_error(request, 404, gettext(NO_ENDPOINT))
