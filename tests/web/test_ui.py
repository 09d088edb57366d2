"""The server-rendered UI, driven like a browser: sign in, fill the forms, read the pages.

Every test runs on SQLite and PostgreSQL (the ``node`` fixture). Forms are posted with the CSRF token scraped
from the page, as a browser would send it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from alianza.accounts.models import User, WebSession
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation.models import Commitment, Evidence, FollowUp
from alianza.cooperation.schemas import CommitmentInput
from alianza.i18n import catalog_msgids
from alianza.node import Node
from alianza.store.db import utcnow
from alianza.web.auth import SESSION_COOKIE
from tests.conftest import PASSWORD

WEB = Path(__file__).resolve().parents[2] / "src" / "alianza" / "web"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


# ---------------------------------------------------------------------------------------------------- helpers


def login(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    form = client.get("/login")
    match = LOGIN_TOKEN.search(form.text)
    assert match, form.text
    response: httpx.Response = client.post(
        "/login",
        data={"username": username, "password": password, "login_token": match.group(1), **extra},
        follow_redirects=False,
    )
    return response


def signed_in(client: TestClient, username: str) -> TestClient:
    response = login(client, username)
    assert response.status_code == 303, response.text
    return client


def csrf(client: TestClient, path: str = "/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def count(node: Node, model: type[Any]) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def seed_commitment(node: Node, actor: User, **overrides: Any) -> int:
    data: dict[str, Any] = {
        "title_en": "Share air cargo manifests",
        "title_es": "Compartir los manifiestos de carga aérea",
        "areas": ["drugs_arms"],
        "country": "MX",
        "lead_agency": "mx_anam",
        "due_date": dt.date(2030, 6, 30),
    } | overrides
    with node.db.transaction() as session:
        return commitment_service.create_commitment(session, actor, CommitmentInput(**data)).id


def commitment_form(token: str, **overrides: Any) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "title_en": "Train customs officers in cargo inspection",
        "title_es": "Capacitar a los agentes aduanales en la inspección de carga",
        "description_en": "",
        "description_es": "",
        "areas": ["drugs_arms", "border_tunnels"],
        "country": "MX",
        "lead_agency": "mx_anam",
        "supporting_agencies": ["mx_sspc"],
        "origin": "statement",
        "due_date": "2030-03-31",
        "status": "agreed",
        "progress": "0",
        "source": "Readout of the first meeting",
    } | overrides


def edit_form(token: str, version: str, title_en: str) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "version": version,
        "title_en": title_en,
        "title_es": "Compartir los manifiestos de carga aérea",
        "areas": ["drugs_arms"],
        "lead_agency": "mx_anam",
        "due_date": "2030-06-30",
        "status": "proposed",
        "progress": "0",
        "note": "",
    }


# ---------------------------------------------------------------------------------------------------- sessions


def test_pages_redirect_to_login_without_a_session(app_client: TestClient) -> None:
    for path in ("/", "/commitments", "/meetings", "/indicators", "/reports", "/commitments/new"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?reason=required"), path


def test_wrong_password_shows_an_error_and_sets_no_session(app_client: TestClient, analyst: User) -> None:
    response = login(app_client, "analyst", "not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="analyst"' in response.text  # the username is kept
    assert SESSION_COOKIE not in response.cookies
    assert app_client.cookies.get(SESSION_COOKIE) is None


def test_login_opens_the_dashboard_with_a_safe_cookie(app_client: TestClient, analyst: User) -> None:
    response = login(app_client, "analyst")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    page = app_client.get("/")
    assert page.status_code == 200
    assert "<h1>Dashboard</h1>" in page.text
    assert '<html lang="en">' in page.text
    assert 'href="#main"' in page.text and 'id="main"' in page.text


def test_login_goes_back_to_a_local_page_only(app_client: TestClient, analyst: User) -> None:
    assert login(app_client, "analyst", next="/meetings").headers["location"] == "/meetings"
    assert login(app_client, "analyst", next="//evil.example/x").headers["location"] == "/"
    assert login(app_client, "analyst", next="https://evil.example/").headers["location"] == "/"


def test_login_form_without_its_token_is_refused(app_client: TestClient, analyst: User) -> None:
    response = app_client.post("/login", data={"username": "analyst", "password": PASSWORD})
    assert response.status_code == 403
    assert app_client.cookies.get(SESSION_COOKIE) is None


def test_expired_session_redirects_to_login_saying_so(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    with node.db.transaction() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    response = app_client.get("/commitments", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=expired&next=/commitments"
    page = app_client.get(response.headers["location"])
    assert "Your session expired; please sign in again." in page.text


def test_logout_closes_the_session(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    token = csrf(app_client)
    response = app_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert count(node, WebSession) == 0
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_language_switch_saves_the_profile_and_shows_spanish(
    app_client: TestClient, node: Node, analyst: User, coordinator: User
) -> None:
    seed_commitment(node, coordinator, areas=["cartels"])
    signed_in(app_client, "analyst")
    assert ">Commitments</a>" in app_client.get("/").text
    response = app_client.post(
        "/lang/es", data={"csrf_token": csrf(app_client), "next": "/commitments"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/commitments"
    page = app_client.get("/commitments")
    assert '<html lang="es">' in page.text
    assert ">Compromisos</a>" in page.text and ">Tablero</a>" in page.text
    assert "Propuesto" in page.text  # status label from the vocabulary
    assert "Combate a los cárteles" in page.text  # area label
    with node.db.reading() as session:
        assert session.scalar(select(User.lang).where(User.username == "analyst")) == "es"


def test_profile_language_is_the_default(app_client: TestClient, coordinator: User) -> None:
    signed_in(app_client, "coord")  # the coordinator's profile says Spanish
    assert "<h1>Tablero</h1>" in app_client.get("/").text


# ---------------------------------------------------------------------------------------------------- commitments


def test_create_commitment_through_the_form(app_client: TestClient, node: Node, coordinator: User) -> None:
    signed_in(app_client, "coord")
    token = csrf(app_client, "/commitments/new")
    response = app_client.post("/commitments", data=commitment_form(token), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert re.fullmatch(r"/commitments/\d+", response.headers["location"])
    listing = app_client.get("/commitments")
    assert "Capacitar a los agentes aduanales en la inspección de carga" in listing.text
    with node.db.reading() as session:
        saved = session.scalars(select(Commitment)).one()
        assert saved.areas == ["drugs_arms", "border_tunnels"]
        assert saved.supporting_agencies == ["mx_sspc"]
        assert saved.status == "agreed"


def test_form_without_csrf_token_is_refused(app_client: TestClient, node: Node, coordinator: User) -> None:
    signed_in(app_client, "coord")
    form = commitment_form("")
    del form["csrf_token"]
    response = app_client.post("/commitments", data=form)
    assert response.status_code == 403
    assert count(node, Commitment) == 0


def test_missing_spanish_title_shows_the_form_again(app_client: TestClient, node: Node, coordinator: User) -> None:
    signed_in(app_client, "coord")
    token = csrf(app_client, "/commitments/new")
    response = app_client.post("/commitments", data=commitment_form(token, title_es=""))
    assert response.status_code == 422
    assert "Este campo es obligatorio." in response.text  # the coordinator reads Spanish
    assert 'id="err-title_es"' in response.text and 'aria-invalid="true"' in response.text
    assert 'value="Train customs officers in cargo inspection"' in response.text  # input kept
    assert count(node, Commitment) == 0


def test_domain_problems_are_shown_next_to_the_fields(app_client: TestClient, node: Node, coordinator: User) -> None:
    signed_in(app_client, "coord")
    token = csrf(app_client, "/commitments/new")
    response = app_client.post("/commitments", data=commitment_form(token, lead_agency="us_dea"))
    assert response.status_code == 422
    assert 'id="err-lead_agency"' in response.text
    assert "La dependencia responsable us_dea pertenece a US" in response.text
    assert count(node, Commitment) == 0


def test_stale_edit_shows_both_versions_and_keeps_the_first_save(
    app_client: TestClient, node: Node, coordinator: User
) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "coord")
    page = app_client.get(f"/commitments/{commitment_id}/edit")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version and version.group(1) == "1"
    token = csrf(app_client, f"/commitments/{commitment_id}/edit")
    first = app_client.post(
        f"/commitments/{commitment_id}/edit", data=edit_form(token, "1", "First save"), follow_redirects=False
    )
    assert first.status_code == 303, first.text
    second = app_client.post(f"/commitments/{commitment_id}/edit", data=edit_form(token, "1", "Second save"))
    assert second.status_code == 409
    assert "First save" in second.text and "Second save" in second.text
    assert "Otra persona guardó este compromiso (ahora en la versión 2)" in second.text
    assert 'name="version" value="2"' in second.text  # saving again is a deliberate choice on version 2
    with node.db.reading() as session:
        saved = session.get(Commitment, commitment_id)
        assert saved is not None and saved.title_en == "First save" and saved.version == 2


def test_followup_note_appears_on_the_timeline(app_client: TestClient, node: Node, coordinator: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "coord")
    token = csrf(app_client, f"/commitments/{commitment_id}")
    response = app_client.post(
        f"/commitments/{commitment_id}/followups",
        data={"csrf_token": token, "note": "ANAM trained 40 officers in Manzanillo."},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = app_client.get(f"/commitments/{commitment_id}")
    timeline = page.text.split('id="timeline"', 1)[1]
    assert "ANAM trained 40 officers in Manzanillo." in timeline
    assert "Estado: — → Propuesto" not in timeline  # a creation reads as its values, not a change from nothing
    assert "Propuesto" in timeline


def test_status_change_reads_with_vocabulary_labels(app_client: TestClient, node: Node, coordinator: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "coord")
    token = csrf(app_client, f"/commitments/{commitment_id}/edit")
    form = edit_form(token, "1", "Share air cargo manifests") | {"status": "agreed", "note": "Agreed in McAllen."}
    assert app_client.post(f"/commitments/{commitment_id}/edit", data=form, follow_redirects=False).status_code == 303
    page = app_client.get(f"/commitments/{commitment_id}").text
    assert re.search(r"Estado: Propuesto <span[^>]*>→</span>.*?Acordado", page)


def test_ticking_the_same_agencies_in_page_order_is_not_a_change(
    app_client: TestClient, node: Node, coordinator: User
) -> None:
    commitment_id = seed_commitment(node, coordinator, supporting_agencies=["mx_fgr", "mx_sspc"])
    signed_in(app_client, "coord")
    token = csrf(app_client, f"/commitments/{commitment_id}/edit")
    form = edit_form(token, "1", "Share air cargo manifests") | {
        "supporting_agencies": ["mx_sspc", "mx_fgr"],
        "note": "Only a note.",
    }
    assert app_client.post(f"/commitments/{commitment_id}/edit", data=form, follow_redirects=False).status_code == 303
    with node.db.reading() as session:
        last = session.scalars(select(FollowUp).order_by(FollowUp.id.desc())).first()
        assert last is not None and last.kind == "note" and last.changes == {}


def test_executable_upload_is_refused(app_client: TestClient, node: Node, coordinator: User, analyst: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "analyst")
    token = csrf(app_client, f"/commitments/{commitment_id}")
    response = app_client.post(
        f"/commitments/{commitment_id}/evidence",
        data={"csrf_token": token, "kind": "file", "title": "Tool"},
        files={"file": ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream")},
    )
    assert response.status_code == 415
    assert "Files of type &#39;.exe&#39; are not allowed" in response.text
    assert 'id="err-file"' in response.text  # next to the file field
    assert count(node, Evidence) == 0
    assert count(node, FollowUp) == 1  # only the creation


def test_oversized_upload_is_refused(app_client: TestClient, node: Node, coordinator: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    node.settings.upload_max_bytes = 200_000
    signed_in(app_client, "coord")
    token = csrf(app_client, f"/commitments/{commitment_id}")
    response = app_client.post(
        f"/commitments/{commitment_id}/evidence",
        data={"csrf_token": token, "kind": "file"},
        files={"file": ("report.pdf", b"%PDF-1.7\n" + b"0" * 300_000, "application/pdf")},
    )
    assert response.status_code == 413
    assert "El archivo supera el límite de 0.2 MiB" in response.text
    assert count(node, Evidence) == 0


def test_link_evidence_is_listed(app_client: TestClient, node: Node, coordinator: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "coord")
    token = csrf(app_client, f"/commitments/{commitment_id}")
    response = app_client.post(
        f"/commitments/{commitment_id}/evidence",
        follow_redirects=False,
        data={"csrf_token": token, "kind": "link", "title": "Joint communiqué", "url": "https://www.gob.mx/sre"},
    )
    assert response.status_code == 303
    page = app_client.get(f"/commitments/{commitment_id}").text
    assert re.search(r'<a href="/api/v1/evidence/\d+">Joint communiqué</a>', page)


def test_analyst_cannot_create_a_commitment(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    assert 'href="/commitments/new"' not in app_client.get("/commitments").text
    refused = app_client.get("/commitments/new")
    assert refused.status_code == 403
    assert "does not allow this action" in refused.text
    response = app_client.post("/commitments", data=commitment_form(csrf(app_client)))
    assert response.status_code == 403
    assert "Your role (analyst) does not allow this action" in response.text
    assert count(node, Commitment) == 0


# ------------------------------------------------------------------------------------------- meetings, indicators


def test_meeting_decision_moves_a_commitment(app_client: TestClient, node: Node, coordinator: User) -> None:
    commitment_id = seed_commitment(node, coordinator)
    signed_in(app_client, "coord")
    token = csrf(app_client, "/meetings/new")
    created = app_client.post(
        "/meetings",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "title_en": "Second meeting",
            "title_es": "Segunda reunión",
            "date": "2026-01-20",
            "place": "Ciudad de México",
            "chairs": "SRE\nState",
            "agencies": ["mx_sre", "us_state"],
        },
    )
    assert created.status_code == 303, created.text
    meeting_path = created.headers["location"]
    page = app_client.get(meeting_path)
    assert f'href="/api/v1/meetings/{meeting_path.rsplit("/", 1)[1]}/ics' in page.text
    decided = app_client.post(
        f"{meeting_path}/decisions",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "text_en": "The manifests will be shared.",
            "text_es": "Se compartirán los manifiestos.",
            "commitment": f"{commitment_id}:1",
            "updates.status": "agreed",
            "updates.progress": "10",
        },
    )
    assert decided.status_code == 303, decided.text
    page = app_client.get(meeting_path)
    assert "Se compartirán los manifiestos." in page.text
    assert f'href="/commitments/{commitment_id}"' in page.text
    with node.db.reading() as session:
        saved = session.get(Commitment, commitment_id)
        assert saved is not None and (saved.status, saved.progress) == ("agreed", 10)


def test_observation_needs_a_source(app_client: TestClient, node: Node, coordinator: User) -> None:
    from alianza.cooperation import indicators as indicator_service
    from alianza.cooperation.schemas import IndicatorInput

    with node.db.transaction() as session:
        indicator_service.create_indicator(
            session,
            coordinator,
            IndicatorInput(
                code="tunnels",
                name_en="Tunnels found",
                name_es="Túneles localizados",
                unit_en="tunnels",
                unit_es="túneles",
                area="border_tunnels",
                direction="increase",
            ),
        )
    signed_in(app_client, "coord")
    token = csrf(app_client, "/indicators/tunnels")
    refused = app_client.post(
        "/indicators/tunnels/observations", data={"csrf_token": token, "date": "2025-12-31", "value": "7", "source": ""}
    )
    assert refused.status_code == 422
    assert 'id="err-source"' in refused.text
    accepted = app_client.post(
        "/indicators/tunnels/observations",
        follow_redirects=False,
        data={"csrf_token": token, "date": "2025-12-31", "value": "7", "source": "SEDENA press release"},
    )
    assert accepted.status_code == 303
    page = app_client.get("/indicators/tunnels").text
    assert "SEDENA press release" in page and "<svg" in page


def test_report_form_points_at_the_api(app_client: TestClient, analyst: User) -> None:
    signed_in(app_client, "analyst")
    page = app_client.get("/reports").text
    assert 'action="/api/v1/reports/progress"' in page
    assert 'name="from"' in page and 'name="to"' in page
    assert ">Download PDF</button>" in page


# ---------------------------------------------------------------------------------------------------- catalog


MSGID = re.compile(r"""(?<![\w.])N?_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")


def ui_msgids() -> dict[str, set[str]]:
    """Every literal msgid passed to ``_``/``N_`` in the templates and the UI modules, with where it is."""
    found: dict[str, set[str]] = {}
    files = [*sorted((WEB / "templates").rglob("*.html")), *sorted((WEB / "ui").glob("*.py"))]
    for path in files:
        for double, single in MSGID.findall(path.read_text(encoding="utf-8")):
            found.setdefault(double or single, set()).add(path.name)
    return found


def test_every_ui_string_has_a_spanish_translation() -> None:
    msgids = ui_msgids()
    assert len(msgids) > 100  # the regex still finds the strings
    missing = {m: sorted(where) for m, where in msgids.items() if m not in catalog_msgids("es")}
    assert not missing, missing


def test_translations_keep_their_placeholders() -> None:
    from babel.messages.pofile import read_po

    path = Path(__file__).resolve().parents[2] / "src/alianza/locales/es/LC_MESSAGES/web.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="es")
    for message in catalog:
        if message.id and message.string:
            assert sorted(re.findall(r"\{\w*\}", str(message.id))) == sorted(
                re.findall(r"\{\w*\}", str(message.string))
            ), message.id
