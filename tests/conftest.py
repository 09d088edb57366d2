"""Fixtures shared by the suite: every database test runs on SQLite and on a real PostgreSQL.

The PostgreSQL cluster is started once per run (tests/support/postgres.py). Each test gets a fresh database
copied from a migrated template, so tests stay independent without paying for migrations each time.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alianza import migrations
from alianza.accounts import service as accounts
from alianza.accounts.models import User
from alianza.node import Node, init_node, open_node
from tests.support.postgres import PostgresCluster, start_cluster

BACKENDS = ("sqlite", "postgresql")
PASSWORD = "correct-horse-battery"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("pg"))
    template = cluster.create_database("alianza_template")
    migrations.upgrade(template.render_as_string(hide_password=False))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "node.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"t{next(_counter)}_{request.node.name.lower()[:30]}".replace("[", "_").replace("]", "").replace("-", "_")
    url = cluster.create_database(name, template="alianza_template")
    yield url.render_as_string(hide_password=False)
    cluster.drop_database(name)


@pytest.fixture
def node(db_url: str, tmp_path: Path) -> Iterator[Node]:
    """An initialised Mexican node with an admin user ``admin`` (agency SRE)."""
    config = init_node(
        tmp_path / "node",
        country="MX",
        name="Nodo de prueba",
        database_url=db_url,
        admin_username="admin",
        admin_password=PASSWORD,
        admin_agency="mx_sre",
    )
    opened = open_node(config)
    yield opened
    opened.close()


def make_user(node: Node, username: str, role: str, agency: str = "mx_sre", lang: str = "en") -> User:
    with node.db.transaction() as session:
        user = accounts.create_user(session, username=username, password=PASSWORD, role=role, agency=agency, lang=lang)
        session.expunge(user)
    return user


@pytest.fixture
def admin(node: Node) -> User:
    with node.db.reading() as session:
        user = accounts.get_user(session, "admin")
        session.expunge(user)
    return user


@pytest.fixture
def coordinator(node: Node) -> User:
    return make_user(node, "coord", "coordinator", "mx_sre", lang="es")


@pytest.fixture
def analyst(node: Node) -> User:
    return make_user(node, "analyst", "analyst", "mx_fgr")


@pytest.fixture
def app_client(node: Node) -> Iterator[TestClient]:
    from alianza.web.app import create_app

    with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
        yield client


def token_for(node: Node, user: User) -> str:
    with node.db.transaction() as session:
        return accounts.issue_token(session, session.merge(user), "test")


@pytest.fixture
def api(app_client: TestClient, node: Node, coordinator: User) -> TestClient:
    """A client authenticated as the coordinator with an API token."""
    app_client.headers["Authorization"] = f"Bearer {token_for(node, coordinator)}"
    return app_client


@pytest.fixture
def us(tmp_path: Path) -> Iterator[Node]:
    """A second node, the US one (on SQLite), for tests that federate two nodes in process."""
    config = init_node(
        tmp_path / "us",
        country="US",
        name="US",
        database_url=None,
        admin_username="admin",
        admin_password=PASSWORD,
        admin_agency="us_state",
    )
    opened = open_node(config)
    yield opened
    opened.close()
