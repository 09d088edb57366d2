"""The baseline endpoint: the same server stack as ``alianza serve`` (Uvicorn with its default loop and HTTP
implementation, Starlette underneath FastAPI) with nothing behind the route but reading the body.

It answers every POST to the inbox path with a small JSON object, so a client posting the federation batches to
it measures what HTTP, JSON framing and one Python server process cost on this machine, and nothing else.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

INBOX_PATH = "/federation/v1/inbox"


async def inbox(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"ok": True, "bytes": len(body)})


async def ready(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route(INBOX_PATH, inbox, methods=["POST"]), Route("/ready", ready, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Loopback only, like the nodes of the benchmark; same Uvicorn options as `alianza serve`.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
