"""The one request-body limit (``NodeSettings.body_limit``): declared or chunked, on an API route and on the
federation inbox, refused with 413 in the API's error shape and logged once (method, path, limit; no body).

The bodies without a Content-Length are sent from a generator, so httpx sends them ``Transfer-Encoding: chunked``
and only the middleware's count of what arrives can catch them. tests/e2e/test_federation_faults.py sends the same
through a real ``alianza serve``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alianza.accounts.models import User
from alianza.cooperation.models import Commitment
from alianza.node import Node
from alianza.web.app import create_app
from tests.conftest import token_for
from tests.web.test_ui import count

CHUNK = 64 * 1024
SECRET = "do-not-log-this-body"


@pytest.fixture
def small(node: Node) -> Iterator[TestClient]:
    """The app of a node whose uploads may be 1 byte: its body limit is then 256 KiB + 1."""
    node.settings.upload_max_bytes = 1
    with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
        yield client


def chunked(total: int) -> Iterator[bytes]:
    """``total`` bytes of a JSON document, in pieces, without a declared length."""
    head = ('{"title": "' + SECRET).encode()
    yield head
    sent = len(head)
    while sent < total - 2:
        piece = b"x" * min(CHUNK, total - 2 - sent)
        sent += len(piece)
        yield piece
    yield b'"}'


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "alianza.web" and "over the limit" in r.getMessage()]


def assert_too_large(response: object, lang_word: str) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 413, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "too_large"
    assert lang_word in body["error"]["message"]


def assert_logged_once(caplog: pytest.LogCaptureFixture, method: str, path: str, limit: int) -> None:
    found = refusals(caplog)
    assert len(found) == 1, [r.getMessage() for r in found]
    line = found[0].getMessage()
    assert method in line and path in line and str(limit) in line
    assert SECRET not in line and "xxxx" not in line


def test_chunked_body_over_the_limit_on_an_api_route(
    small: TestClient, node: Node, coordinator: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alianza.web")
    limit = node.settings.body_limit
    response = small.post(
        "/api/v1/commitments",
        content=chunked(limit + CHUNK),
        headers={
            "Authorization": f"Bearer {token_for(node, coordinator)}",
            "Content-Type": "application/json",
            "Accept-Language": "es",  # refused before the caller is known: the language of the request
        },
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_too_large(response, "límite")
    assert_logged_once(caplog, "POST", "/api/v1/commitments", limit)
    assert count(node, Commitment) == 0


def test_declared_length_over_the_limit_is_refused_unread_and_logged(
    small: TestClient, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alianza.web")
    limit = node.settings.body_limit
    response = small.post(
        "/api/v1/commitments", content=b"".join(chunked(limit + 1)), headers={"Accept-Language": "en"}
    )
    assert response.request.headers["content-length"] == str(limit + 1)
    assert_too_large(response, "limit")
    assert_logged_once(caplog, "POST", "/api/v1/commitments", limit)


def test_chunked_body_over_the_limit_on_the_federation_inbox(
    small: TestClient, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    limit = node.settings.body_limit
    response = small.post(
        "/federation/v1/inbox",
        content=chunked(limit + 3 * CHUNK),
        headers={"Content-Type": "application/json", "Accept-Language": "es"},
    )
    assert_too_large(response, "límite")
    assert_logged_once(caplog, "POST", "/federation/v1/inbox", limit)
    assert not [r for r in caplog.records if "Refused envelope" in r.getMessage()]  # one line, not two


def test_chunked_body_under_the_limit_goes_through(
    small: TestClient, node: Node, coordinator: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alianza.web")
    response = small.post(
        "/api/v1/commitments",
        content=chunked(node.settings.body_limit - CHUNK),
        headers={"Authorization": f"Bearer {token_for(node, coordinator)}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422  # read whole and judged by the route: the title alone is not a commitment
    assert response.json()["error"]["code"] == "validation_error"
    assert refusals(caplog) == []
