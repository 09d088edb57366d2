"""The one limit on request bodies (``NodeSettings.body_limit``), for every route, the federation inbox included.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused before a byte of the body is read;
a body without one (``Transfer-Encoding: chunked``) is counted as it arrives, by wrapping ``receive``, and refused
as soon as the count passes the limit — whichever route is reading it, so no route keeps its own count. The
refusal is a 413 in the API's error shape, in the reader's language, and each one is logged once with the method,
the path and the limit (never the body). Once the app has started its answer, the body is no longer counted: a
route that answers without reading the body (a streaming response draining it) is not cut off mid-answer.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alianza.errors import AlianzaError
from alianza.i18n import gettext_for
from alianza.web.context import request_lang
from alianza.web.errors import error_body

logger = logging.getLogger("alianza.web")


class RequestTooLargeError(AlianzaError):
    """A request body over the node's limit (declared, or counted while it streamed in)."""

    code = "too_large"
    http_status = 413


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes, declared or streamed (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _error(self) -> RequestTooLargeError:
        return RequestTooLargeError(
            "The request is larger than the limit of {limit} MiB.", limit=round(self.limit / 2**20, 1)
        )

    async def _refuse(self, scope: Scope, send: Send, how: str) -> None:
        logger.warning(
            "Refused request %s %s: its body is over the limit of %d bytes (%s; %s)",
            scope.get("method", ""),
            scope.get("path", ""),
            self.limit,
            how,
            RequestTooLargeError.code,
        )
        error = self._error()
        try:
            gettext: Any = gettext_for(request_lang(Request(scope)))
        except (AttributeError, KeyError):  # no node on the app (never in a node's app): English
            gettext = None
        response = JSONResponse(error_body(error.code, error.render(gettext)), status_code=error.http_status)
        await response(scope, _no_receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send, "declared length")
            return

        received = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not started and not refused:
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    await self._refuse(scope, send, "streamed body")
                    raise self._error()  # stops the route reading; what it answers now is dropped below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The route gave up on the body it could not finish reading; the client already has the 413.


async def _no_receive() -> Message:  # a JSONResponse never reads the request
    return {"type": "http.disconnect"}
