"""Fixtures of the API tests: a client without credentials next to the coordinator's ``api`` client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alianza.node import Node
from alianza.web.app import create_app


@pytest.fixture
def anon(node: Node) -> Iterator[TestClient]:
    """A client of the same node that sends no credentials (``api`` and ``app_client`` are one object)."""
    with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
        yield client
