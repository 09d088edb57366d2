"""The screening pages driven like a browser: a list loaded through the upload form (and its re-screen report),
a name screened with its score and explanation, the review queue's decisions, and who may do what.

Every test runs on SQLite and PostgreSQL (the ``node`` fixture, a Mexican node). Forms are posted with the CSRF
token scraped from the page, as a browser sends it; users sign in through the /login form.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.i18n import catalog_msgids
from alianza.matching.lists import ListFile, load_list
from alianza.matching.screening_models import ListEntry, SanctionsList, ScreeningHit
from alianza.node import Node
from tests.api.test_screening_api import ALT, BAD_SDN, SDN_V1, SDN_V2, ofac_files, seed_person
from tests.conftest import make_user
from tests.web.test_ui import MSGID, WEB, count, csrf, signed_in

CATALOG = WEB.parent / "locales" / "es" / "LC_MESSAGES" / "screening_ui.po"


@pytest.fixture
def analyst_es(node: Node) -> User:
    return make_user(node, "analista", "analyst", "mx_fgr", lang="es")


def load_v1(node: Node, actor: User) -> None:
    with node.db.transaction() as session:
        files = [ListFile("sdn.csv", SDN_V1.encode()), ListFile("alt.csv", ALT.encode())]
        load_list(session, actor, node.trail, "ofac-sdn", *files, source="OFAC SDN")


def upload(client: TestClient, sdn: str, **form: str) -> Any:
    token = csrf(client, "/screening/lists")
    data = {"csrf_token": token, "name": "ofac-sdn", "format": "ofac", "source": "OFAC SDN"} | form
    return client.post("/screening/lists", data=data, files=ofac_files(sdn))


def screen(client: TestClient, name: str, **form: str) -> Any:
    token = csrf(client, "/screening")
    return client.post("/screening", data={"csrf_token": token, "mode": "name", "name": name} | form)


# ---------------------------------------------------------------------------------------------------- pages


def test_pages_need_a_session_and_the_records_permission(app_client: TestClient, node: Node) -> None:
    for path in ("/screening", "/screening/hits", "/screening/lists"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    make_user(node, "coord", "coordinator", "mx_sre")
    signed_in(app_client, "coord")
    assert 'href="/screening"' not in app_client.get("/").text  # no menu entry without read_records
    for path in ("/screening", "/screening/hits", "/screening/lists"):
        assert app_client.get(path).status_code == 403, path


def test_load_a_list_through_the_form_and_read_the_rescreen_report(
    app_client: TestClient, node: Node, analyst: User
) -> None:
    seed_person(node, analyst, "r-mencho", "Nemesio Oseguera")
    seed_person(node, analyst, "r-chuy", "Chuy Pérez")
    seed_person(node, analyst, "r-chapo", "Chapo Guzmán")
    signed_in(app_client, "analyst")
    page = app_client.get("/screening/lists").text
    assert 'href="/screening"' in page and ">Screening<" in page  # the menu entry
    assert "No sanctions list is loaded yet." in page
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page and "multiple" in page

    first = upload(app_client, SDN_V1)
    assert first.status_code == 200, first.text
    assert "List ofac-sdn loaded" in first.text
    assert "3 record(s) screened against the new version: 2 new hit(s), 0 removed, 0 unchanged." in first.text
    assert 'href="/records/r-mencho"' in first.text and 'href="/records/r-chuy"' in first.text
    with node.db.reading() as session:
        lst = session.scalars(select(SanctionsList)).one()
        assert (lst.name, lst.format, lst.source, lst.entry_count) == ("ofac-sdn", "ofac-csv", "OFAC SDN", 2)
        version = lst.version
    table = app_client.get("/screening/lists").text
    assert f'title="{version}"' in table and "OFAC SDN" in table

    typed = screen(app_client, "Chuy Pérez")  # a typed name, kept with its hit
    assert typed.status_code == 200 and "PEREZ LOPEZ, Jesus" in typed.text

    second = upload(app_client, SDN_V2)
    assert second.status_code == 200
    assert f"was {version[:12]}" in second.text
    assert "1 new hit(s), 2 removed, 1 unchanged." in second.text  # the typed name's hit went with the record's
    assert "1 typed name(s) screened again as well" in second.text
    assert "GUZMAN LOERA, Joaquin Archivaldo" in second.text  # the new hit
    assert "PEREZ LOPEZ, Jesus" in second.text  # the removed one
    same = upload(app_client, SDN_V2)
    assert "nothing changed" in same.text


def test_a_malformed_file_names_the_line_and_nothing_is_loaded(
    app_client: TestClient, node: Node, analyst_es: User
) -> None:
    signed_in(app_client, "analista")
    response = upload(app_client, BAD_SDN)
    assert response.status_code == 422
    assert 'href="#f-files"' in response.text and 'id="err-files"' in response.text
    assert "sdn.csv: línea 2: se esperaban 12 columnas y hay 3." in response.text
    assert 'value="ofac-sdn"' in response.text  # the input is kept
    assert count(node, SanctionsList) == 0 and count(node, ListEntry) == 0
    missing = app_client.post("/screening/lists", data={"csrf_token": csrf(app_client, "/screening/lists"), "name": ""})
    assert missing.status_code == 422 and 'id="err-name"' in missing.text and 'id="err-files"' in missing.text


def test_an_auditor_cannot_load_a_list(app_client: TestClient, node: Node) -> None:
    make_user(node, "auditor", "auditor", "mx_sre")
    signed_in(app_client, "auditor")
    page = app_client.get("/screening/lists")
    assert page.status_code == 200 and 'name="files"' not in page.text  # no form the service would refuse
    refused = app_client.post(
        "/screening/lists",
        data={"csrf_token": csrf(app_client, "/screening/lists"), "name": "ofac-sdn", "format": "ofac"},
        files=ofac_files(SDN_V1),
    )
    assert refused.status_code == 403
    assert "does not allow this action" in refused.text
    assert count(node, SanctionsList) == 0


def test_a_post_without_the_csrf_token_is_refused(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    response = app_client.post("/screening/lists", data={"name": "ofac-sdn"}, files=ofac_files(SDN_V1))
    assert response.status_code == 403
    assert count(node, SanctionsList) == 0


# ---------------------------------------------------------------------------------------------------- screening


def test_screen_a_name_shows_the_hit_with_its_explanation(app_client: TestClient, node: Node, analyst: User) -> None:
    load_v1(node, analyst)
    signed_in(app_client, "analyst")
    form = app_client.get("/screening").text
    assert 'name="birth_date"' in form and 'name="nationality"' in form and 'name="file"' in form
    assert "alianza-screen-v1" in form
    response = screen(app_client, "Mencho Oseguera", birth_date="1966-07-17", nationality="México")
    assert response.status_code == 200, response.text
    page = response.text
    assert "1 name(s) screened, 1 with hits." in page
    assert "OSEGUERA CERVANTES, Nemesio" in page and "ofac-sdn 17301" in page
    assert 'class="progress-fill" style="width: 9' in page  # the score bar (90-odd %)
    assert "Why the algorithm scored this hit" in page
    for label in ("First surname", "Given name", "The nickname instead of the given name", "Date of birth"):
        assert label in page, label
    assert "<td>mencho</td>" in page and "<td>nemesio</td>" in page  # the values compared
    assert "+4.00" in page  # the points of the paternal surname
    assert 'value="Mencho Oseguera"' in page  # the input is kept
    with node.db.reading() as session:
        hit = session.scalars(select(ScreeningHit)).one()
        assert hit.subject_text == "Mencho Oseguera" and hit.entry_external_id == "17301"
        hit_id = hit.id
    assert f'href="/screening/hits#hit-{hit_id}"' in page  # "review it"
    too_high = screen(app_client, "Mencho Oseguera", threshold="75")
    assert too_high.status_code == 422 and 'id="err-threshold"' in too_high.text
    strict = screen(app_client, "Mencho Oseguera", threshold="0,99")  # a decimal comma is read too
    assert strict.status_code == 200 and "0 with hits" in strict.text
    nobody = screen(app_client, "Pedro Ramírez Soto")
    assert "No hit: no entry of the lists scored at or above the threshold." in nobody.text


def test_screen_in_spanish_and_the_problems_next_to_the_fields(
    app_client: TestClient, node: Node, analyst_es: User
) -> None:
    signed_in(app_client, "analista")
    page = app_client.get("/screening").text
    assert '<html lang="es">' in page and "Verificación en listas de sanciones" in page
    assert "Todavía no hay ninguna lista de sanciones cargada." in page
    nothing = screen(app_client, "Mencho Oseguera")
    assert nothing.status_code == 422 and 'id="err-list"' in nothing.text
    load_v1(node, analyst_es)
    bad = screen(app_client, "", birth_date="ayer", nationality="Narnia", threshold="mucho")
    assert bad.status_code == 422
    assert "No se cotejó nada: hay 4 problema(s) por corregir." in bad.text
    for field in ("name", "birth_date", "nationality", "threshold"):
        assert f'id="err-{field}"' in bad.text, field
    assert "&#39;Narnia&#39; no es un país" in bad.text
    found = screen(app_client, "Chuy Pérez")
    assert found.status_code == 200
    assert "PEREZ LOPEZ, Jesus" in found.text
    assert "Primer apellido" in found.text and "Un hipocorístico del mismo nombre (Chuy, Jesús)" in found.text


def test_screen_a_file_of_names(app_client: TestClient, node: Node, analyst: User) -> None:
    load_v1(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/screening")
    names = "nombre\nMencho Oseguera\nPedro Ramírez Soto\n"
    response = app_client.post(
        "/screening",
        data={"csrf_token": token, "mode": "file", "list": "ofac-sdn"},
        files={"file": ("names.csv", names.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert "names.csv: 2 name(s) screened, 1 with hits." in response.text
    assert "OSEGUERA CERVANTES, Nemesio" in response.text
    bad = app_client.post(
        "/screening",
        data={"csrf_token": token, "mode": "file"},
        files={"file": ("names.csv", b"nombre,fecha_nacimiento\nMencho,ayer\n", "text/csv")},
    )
    assert bad.status_code == 422 and 'id="err-file"' in bad.text
    assert "names.csv: line 2: &#39;ayer&#39; is not a date" in bad.text


# ---------------------------------------------------------------------------------------------------- review


def test_decide_on_a_hit_in_the_review_queue(app_client: TestClient, node: Node, analyst: User) -> None:
    load_v1(node, analyst)
    signed_in(app_client, "analyst")
    screen(app_client, "Mencho Oseguera")
    with node.db.reading() as session:
        hit_id = session.scalars(select(ScreeningHit.id)).one()
    queue = app_client.get("/screening/hits").text
    assert "1 hit(s) to review, 0 decided." in queue
    assert f'action="/screening/hits/{hit_id}/decision"' in queue and 'value="false_positive"' in queue
    token = csrf(app_client, "/screening/hits")
    forged = app_client.post(f"/screening/hits/{hit_id}/decision", data={"decision": "match", "note": "x"})
    assert forged.status_code == 403
    wrong = app_client.post(f"/screening/hits/{hit_id}/decision", data={"csrf_token": token, "decision": "maybe"})
    assert wrong.status_code == 422 and f'id="err-note-{hit_id}"' not in wrong.text
    assert f'href="#f-decision-{hit_id}"' in wrong.text and f'id="f-decision-{hit_id}"' in wrong.text
    assert "Choose whether the hit is a match or a false positive." in wrong.text
    long_note = app_client.post(
        f"/screening/hits/{hit_id}/decision", data={"csrf_token": token, "decision": "match", "note": "x" * 2001}
    )
    assert long_note.status_code == 422 and f'id="err-note-{hit_id}"' in long_note.text
    decided = app_client.post(
        f"/screening/hits/{hit_id}/decision",
        data={"csrf_token": token, "decision": "match", "note": "Same CURP in the case file."},
        follow_redirects=False,
    )
    assert decided.status_code == 303 and decided.headers["location"] == f"/screening/hits#hit-{hit_id}"
    with node.db.reading() as session:
        row = session.get(ScreeningHit, hit_id)
        assert row is not None and row.decision == "match" and row.note == "Same CURP in the case file."
    queue = app_client.get("/screening/hits").text
    assert "0 hit(s) to review, 1 decided." in queue
    assert "Match: the listed person or organisation" in queue and "Same CURP in the case file." in queue
    assert app_client.get(f"/screening/hits/{hit_id}/decision", follow_redirects=False).status_code == 303

    make_user(node, "auditor", "auditor", "mx_sre")
    signed_in(app_client, "auditor")  # sees the hit, may not decide
    page = app_client.get("/screening/hits").text
    assert "OSEGUERA CERVANTES, Nemesio" in page and f'action="/screening/hits/{hit_id}/decision"' not in page
    token = csrf(app_client, "/screening/hits")
    refused = app_client.post(f"/screening/hits/{hit_id}/decision", data={"csrf_token": token, "decision": "match"})
    assert refused.status_code == 403


# ---------------------------------------------------------------------------------------------------- catalog


def screening_msgids() -> set[str]:
    """Every literal msgid of the screening templates and page module, and the menu entry of base.html."""
    files = [*sorted((WEB / "templates" / "screening").glob("*.html")), WEB / "ui" / "screening.py"]
    found = {double or single for path in files for double, single in MSGID.findall(path.read_text("utf-8"))}
    found |= set(re.findall(r'gettext\(\s*"((?:[^"\\]|\\.)*)"\s*\)', (WEB / "ui" / "screening.py").read_text()))
    return found | {"Screening"}


def test_every_screening_string_has_a_spanish_translation() -> None:
    msgids = screening_msgids()
    assert len(msgids) > 80  # the regex still finds the strings
    assert not sorted(msgids - catalog_msgids("es"))


def _read(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh, locale="es") if m.id}


def test_screening_catalog_keeps_placeholders_and_overrides_nothing() -> None:
    ours = _read(CATALOG)
    for msgid, translation in ours.items():
        assert translation, msgid
        assert sorted(re.findall(r"\{\w*\}", msgid)) == sorted(re.findall(r"\{\w*\}", translation)), msgid
    for other in sorted(CATALOG.parent.glob("*.po")):
        if other != CATALOG:  # the catalogs are merged into one table: a msgid twice would silently win or lose
            assert not sorted(set(_read(other)) & set(ours)), other.name
