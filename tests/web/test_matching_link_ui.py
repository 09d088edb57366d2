"""``/matching/link`` driven like a browser: a CSV uploaded with the CSRF token scraped from the page, the table of
matches with links to our records, the probability as a percentage and what agreed and disagreed, in English and
in Spanish; a bad file shown next to the field with its lines; a form without its token refused. Every test runs
on SQLite and PostgreSQL (the ``node`` fixture)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.node import Node
from tests.conftest import make_user
from tests.matching.test_link_records import FILE, seed
from tests.web.test_ui import csrf, signed_in


def linked_runs(node: Node) -> list[tuple[str, dict[str, object]]]:
    with node.db.reading() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.linked"))
        return [(e.actor, dict(e.details)) for e in rows]


def upload(client: TestClient, token: str, data: bytes = FILE, name: str = "fiscalia.csv", **fields: str) -> str:
    response = client.post(
        "/matching/link", data={"csrf_token": token, **fields}, files={"file": (name, data, "text/csv")}
    )
    assert response.status_code == 200, response.text
    return str(response.text)


def test_the_page_needs_a_session_and_is_in_the_matching_menu(
    app_client: TestClient, node: Node, analyst: User
) -> None:
    response = app_client.get("/matching/link", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?reason=required")
    signed_in(app_client, "analyst")
    page = app_client.get("/matching/candidates").text
    assert 'href="/matching/link"' in page  # the section's navigation
    form = app_client.get("/matching/link").text
    assert 'action="/matching/link"' in form and 'enctype="multipart/form-data"' in form
    assert 'name="csrf_token"' in form and 'name="file"' in form and 'name="schema"' in form
    assert "50\u00a0000 rows" in form


def test_upload_shows_the_matches_with_links_and_why(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    signed_in(app_client, "analyst")
    page = upload(app_client, csrf(app_client, "/matching/link"), schema="Person")
    assert "fiscalia.csv: 4 row(s) compared with 45 record(s) you may see; 3 match(es)." in page
    table = page.split('id="results"', 1)[1]
    for record in ("r-1", "r-2", "r-3"):
        assert f'href="/records/{record}"' in table, record
    row = table.split("<code>F-1</code>", 1)[1].split("</tr>", 1)[0]
    assert "PÉREZ LÓPEZ, Pepe" in row and ">José Luis Pérez López</a>" in row
    assert re.search(r"<strong>\d{2,3}\.\d %</strong>", row), row
    assert "Given names: A nickname of the same name (Pepe, José)" in row
    assert "Date of birth: Identical" in row
    assert "Nationality or country: The same" not in row  # the same nationality as nearly everyone: no evidence
    assert "<code>F-4</code>" not in table  # nobody we hold
    ((actor, details),) = linked_runs(node)
    assert actor == "analyst" and details["file"] == "fiscalia.csv" and details["matches"] == 3


def test_the_table_in_spanish(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    make_user(node, "analista", "analyst", "mx_fgr", lang="es")
    signed_in(app_client, "analista")
    form = app_client.get("/matching/link").text
    assert '<html lang="es">' in form and "Cruzar un archivo con nuestros registros" in form
    page = upload(app_client, csrf(app_client, "/matching/link"))
    assert "fiscalia.csv: 4 fila(s) comparada(s) con 45 registro(s) que usted puede ver; 3 coincidencia(s)." in page
    for label in ("Nombre en el archivo", "Nuestro registro", "Probabilidad de coincidencia", "Coincidió"):
        assert label in page, label
    assert "Nombres de pila: Un hipocorístico del mismo nombre (Pepe, José)" in page
    signed_in(app_client, "analyst")  # English profile, Spanish asked for
    assert "Cruzar un archivo con nuestros registros" in app_client.get("/matching/link?lang=es").text


def test_a_bad_file_is_shown_next_to_the_field(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/matching/link")
    bad = app_client.post(
        "/matching/link",
        data={"csrf_token": token},
        files={"file": ("malo.csv", b"ref,name\nA,Ana Ruiz\nB,\n", "text/csv")},
    )
    assert bad.status_code == 422 and 'id="err-file"' in bad.text and 'href="#f-file"' in bad.text
    assert "Nothing was linked: 1 problem(s) to fix." in bad.text
    assert "malo.csv: line 3: the name is empty." in bad.text
    threshold = app_client.post(
        "/matching/link", data={"csrf_token": token, "threshold": "muy alto"}, files={"file": ("f.csv", FILE)}
    )
    assert threshold.status_code == 422 and 'id="err-threshold"' in threshold.text
    nothing = app_client.post("/matching/link", data={"csrf_token": token})
    assert nothing.status_code == 422 and "Choose a file to upload." in nothing.text
    assert linked_runs(node) == []


def test_csrf_is_enforced(app_client: TestClient, node: Node, analyst: User) -> None:
    seed(node, analyst)
    signed_in(app_client, "analyst")
    forged = app_client.post("/matching/link", files={"file": ("fiscalia.csv", FILE, "text/csv")})
    assert forged.status_code == 403
    wrong = app_client.post(
        "/matching/link", data={"csrf_token": "not-the-token"}, files={"file": ("fiscalia.csv", FILE, "text/csv")}
    )
    assert wrong.status_code == 403
    assert linked_runs(node) == []


def test_a_coordinator_may_not_link(app_client: TestClient, node: Node, coordinator: User) -> None:
    signed_in(app_client, "coord")
    assert app_client.get("/matching/link").status_code == 403
