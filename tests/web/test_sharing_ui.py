"""The sharing pages driven like a browser: records, the release gate and the four-eyes review, recalls,
partner requests, the legal framework and the audit pages.

Every test runs on SQLite and PostgreSQL (the ``node`` fixture, a Mexican node). Forms are posted with the
CSRF token scraped from the page, as a browser sends it; users sign in through the /login form.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.log import Problem
from alianza.audit.models import AuditEntry
from alianza.federation import outbox
from alianza.i18n import gettext_for
from alianza.node import Node
from alianza.records import service as records
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput
from alianza.releases.models import InfoRequest, Release
from tests.conftest import make_user
from tests.web.test_ui import count, csrf, signed_in

VERSION = re.compile(r'name="version" value="(\d+)"')


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def analyst_es(node: Node) -> User:
    """An FGR analyst whose profile language is Spanish."""
    return make_user(node, "analista", "analyst", "mx_fgr", lang="es")


@pytest.fixture
def reviewer(node: Node) -> User:
    return make_user(node, "juridico", "legal_reviewer", "mx_fgr", lang="es")


@pytest.fixture
def auditor(node: Node) -> User:
    return make_user(node, "auditor", "auditor", "mx_sre", lang="en")


def seed_record(
    node: Node, actor: User, *, tlp: str = "AMBER", origin: str = "mx_fgr", name: str = "Juan Pérez"
) -> str:
    data = RecordInput.model_validate(
        {
            "schema": "Person",
            "properties": {"name": name, "birthDate": "1980-05-01", "nationality": "mx"},
            "markings": Markings(
                origin_agency=origin,
                tlp=tlp,  # type: ignore[arg-type]
                legal_basis="mx_cnpp",
                purpose="criminal_investigation",
                criminal_predicate="Carpeta de investigación FED/123/2025",
            ),
        }
    )
    with node.db.transaction() as session:
        return records.create_record(session, actor, node.trail, node.settings.country, data).id


def record_form(token: str, **overrides: Any) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "schema": "Person",
        "properties.name": "María López Hernández",
        "properties.nationality": "mx",
        "properties.birthDate": "1985-02-03",
        "extra_name": ["alias", "", ""],
        "extra_value": ["La Güera", "", ""],
        "markings.origin_agency": "mx_fgr",
        "markings.tlp": "AMBER",
        "markings.handling": "H0",
        "markings.source_reliability": "B",
        "markings.info_accuracy": "2",
        "markings.legal_basis": "mx_cnpp",
        "markings.purpose": "criminal_investigation",
        "markings.criminal_predicate": "Carpeta de investigación FED/456/2025",
        "markings.personal_data": "",
        "markings.retention_review": "",
    } | overrides


def release_form(token: str, record_ids: list[str], **overrides: Any) -> dict[str, Any]:
    return {
        "csrf_token": token,
        "record_ids": record_ids,
        "recipient_node": "us-node",
        "recipient_agency": "us_dea",
        "purpose": "criminal_investigation",
        "legal_basis": "criminal_investigation",
        "fields": "",
        "justification": "La DEA investiga la misma red en Texas.",
        "need_to_know": "on",
        "right_to_know": "on",
        "recipient_law_enforcement": "on",
        "recipient_equivalent_rules": "on",
    } | overrides


def propose(client: TestClient, record_ids: list[str], **overrides: Any) -> Any:
    token = csrf(client, "/releases/new")
    return client.post("/releases", data=release_form(token, record_ids, **overrides), follow_redirects=False)


def release_status(node: Node, release_id: int) -> str:
    with node.db.reading() as session:
        release = session.get(Release, release_id)
        assert release is not None
        return release.status


def review(client: TestClient, release_id: int, decision: str, note: str) -> Any:
    page = client.get(f"/releases/{release_id}")
    token = csrf(client, f"/releases/{release_id}")
    match = VERSION.search(page.text)
    version = match.group(1) if match else "1"
    return client.post(
        f"/releases/{release_id}/review",
        data={"csrf_token": token, "decision": decision, "note": note, "version": version},
        follow_redirects=False,
    )


# ---------------------------------------------------------------------------------------------------- records


def test_sharing_pages_need_a_session(app_client: TestClient) -> None:
    for path in ("/records", "/records/new", "/releases", "/releases/new", "/requests", "/policies", "/audit"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?reason=required"), path


def test_create_a_record_through_the_form(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    chooser = app_client.get("/records/new")
    assert 'name="schema"' in chooser.text and "properties.name" not in chooser.text  # choose the kind first
    form = app_client.get("/records/new?schema=Person")
    assert 'id="f-properties.name"' in form.text and 'id="f-properties.birthDate"' in form.text  # featured
    assert 'name="extra_name"' in form.text  # the "add a property" rows
    token = csrf(app_client, "/records/new?schema=Person")
    response = app_client.post("/records", data=record_form(token), follow_redirects=False)
    assert response.status_code == 303, response.text
    record_id = response.headers["location"].rsplit("/", 1)[-1]
    with node.db.reading() as session:
        record = session.get(Record, record_id)
        assert record is not None
        assert record.properties["alias"] == ["La Güera"]
        assert record.legal_basis == "mx_cnpp" and record.personal_data  # a Person holds personal data
    page = app_client.get(f"/records/{record_id}").text
    assert "María López Hernández" in page
    assert 'class="tlp tlp-amber"' in page and "TLP:AMBER" in page
    assert "National Code of Criminal Procedure" in page  # the vocabulary's label, not the code
    assert "Birth date" in page and "La Güera" in page
    assert f'href="/releases/new?record_id={record_id}"' in page  # "Share with the partner"


def test_missing_legal_basis_is_shown_next_to_the_field(app_client: TestClient, node: Node, analyst: User) -> None:
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/records/new?schema=Person")
    before = count(node, Record)
    response = app_client.post("/records", data=record_form(token, **{"markings.legal_basis": ""}))
    assert response.status_code == 422
    assert 'id="err-markings.legal_basis"' in response.text
    assert 'href="#f-markings.legal_basis"' in response.text  # the summary links to the field
    assert 'value="María López Hernández"' in response.text  # the input is kept
    bad_date = app_client.post(
        "/records", data=record_form(token, **{"markings.legal_basis": "", "properties.birthDate": "ayer"})
    )
    assert 'id="err-markings.legal_basis"' in bad_date.text and 'id="err-properties.birthDate"' in bad_date.text
    assert count(node, Record) == before


def test_ingest_rule_problems_are_shown_next_to_the_fields(
    app_client: TestClient, node: Node, analyst_es: User
) -> None:
    signed_in(app_client, "analista")
    token = csrf(app_client, "/records/new?schema=Person")
    data = record_form(token, **{"markings.origin_agency": "us_dea", "properties.birthDate": "no es fecha"})
    response = app_client.post("/records", data=data)
    assert response.status_code == 422
    assert 'id="err-markings.origin_agency"' in response.text
    assert 'id="err-properties.birthDate"' in response.text
    assert "Fecha de nacimiento" in response.text  # FtM's own Spanish label
    assert count(node, Record) == 0


def test_stale_record_edit_is_refused_and_keeps_the_input(app_client: TestClient, node: Node, analyst: User) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    form = app_client.get(f"/records/{record_id}/edit").text
    token = csrf(app_client, f"/records/{record_id}/edit")
    assert 'value="Juan Pérez"' in form
    data = record_form(token, version="1", **{"properties.name": "Juan Pérez García"})
    data.pop("schema")
    assert app_client.post(f"/records/{record_id}/edit", data=data, follow_redirects=False).status_code == 303
    stale = app_client.post(f"/records/{record_id}/edit", data=data | {"properties.name": "Otro nombre"})
    assert stale.status_code == 409
    assert "Someone else saved this record" in stale.text and 'value="Otro nombre"' in stale.text
    with node.db.reading() as session:
        record = session.get(Record, record_id)
        assert record is not None and record.properties["name"] == ["Juan Pérez García"]


def test_purge_needs_a_reason(app_client: TestClient, node: Node, analyst: User) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, f"/records/{record_id}")
    refused = app_client.post(f"/records/{record_id}/purge", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and 'id="err-reason"' in refused.text
    done = app_client.post(
        f"/records/{record_id}/purge", data={"csrf_token": token, "reason": "Revisión: ya no es pertinente."}
    )
    assert done.status_code == 200 and "Purged on" in done.text  # followed the redirect to the record


def test_partner_records_are_read_only(app_client: TestClient, node: Node, analyst: User) -> None:
    record_id = seed_record(node, analyst)
    with node.db.transaction() as session:
        record = session.get(Record, record_id)
        assert record is not None
        record.partner = "us-node"
    signed_in(app_client, "analyst")
    page = app_client.get(f"/records/{record_id}").text
    assert "Read-only: received from the partner (us-node)." in page
    assert f'href="/records/{record_id}/edit"' not in page
    assert app_client.get(f"/records/{record_id}/edit").status_code == 403


def test_record_search_filters_and_is_audited(app_client: TestClient, node: Node, analyst: User) -> None:
    seed_record(node, analyst, name="Pedro Ramírez")
    seed_record(node, analyst, tlp="GREEN", name="Luis Torres")
    signed_in(app_client, "analyst")
    page = app_client.get("/records?tlp=GREEN").text
    assert "Luis Torres" in page and "Pedro Ramírez" not in page
    assert "Pedro Ramírez" in app_client.get("/records?q=Ram").text
    with node.db.reading() as session:
        bulk = [e.details for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "record.viewed_bulk"))]
    assert any(d.get("filter", {}).get("tlp") == "GREEN" for d in bulk)


# ---------------------------------------------------------------------------------------------------- releases


def test_tlp_red_release_is_denied_with_spanish_reasons(app_client: TestClient, node: Node, analyst_es: User) -> None:
    record_id = seed_record(node, analyst_es, tlp="RED")
    signed_in(app_client, "analista")
    response = propose(app_client, [record_id])
    assert response.status_code == 403
    assert '<html lang="es">' in response.text
    assert "COMMON-TLP-RED" in response.text
    assert "La información TLP:RED es solo para los destinatarios nombrados y nunca sale de este nodo." in response.text
    assert "FIRST TLP 2.0, TLP:RED" in response.text  # the citation
    assert "El control de entregas denegó esta entrega" in response.text
    assert count(node, Release) == 0


def test_release_is_held_for_review_then_approved_by_another_person(
    app_client: TestClient, node: Node, analyst: User, reviewer: User, auditor: User
) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    shared = app_client.get(f"/releases/new?record_id={record_id}").text
    assert f'value="{record_id}" checked' in shared  # "Share with the partner" pre-fills the record
    assert 'value="us-node"' in shared  # a Mexican node sends to the US node
    response = propose(app_client, [record_id])
    assert response.status_code == 303, response.text
    release_id = int(response.headers["location"].rsplit("/", 1)[-1])

    page = app_client.get(f"/releases/{release_id}").text
    assert "Held for review" in page
    assert "MX-LGPDPPSO-TRANSFER" in page  # the ground the gate found
    assert "MX-LSN-FOREIGN-AGENT-REPORT" in page and "Due by" in page  # the obligation and its date
    assert 'value="approve"' not in page  # the proposer is offered no decision

    token = csrf(app_client, f"/releases/{release_id}")
    forged = app_client.post(
        f"/releases/{release_id}/review",
        data={"csrf_token": token, "decision": "approve", "note": "ok", "version": "1"},
    )
    assert forged.status_code == 403
    assert release_status(node, release_id) == "pending_review"

    signed_in(app_client, "juridico")
    page = app_client.get(f"/releases/{release_id}").text
    assert "Pendiente de revisión" in page and 'value="approve"' in page
    approved = review(app_client, release_id, "approve", "La DEA es autoridad competente; Art. 40 no aplica.")
    assert approved.status_code == 303
    assert release_status(node, release_id) == "approved"
    with node.db.reading() as session:
        assert [m.kind for m in outbox.pending(session, "us-node")] == ["release"]
    page = app_client.get(f"/releases/{release_id}").text
    assert "Aprobada" in page and "en cola para entrega a us-node" in page
    assert "Juan Pérez" in page and "Lo que se envió:" in page  # the payload as sent

    token = csrf(app_client, f"/releases/{release_id}")
    refused = app_client.post(f"/releases/{release_id}/recall", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and 'id="err-reason"' in refused.text
    recalled = app_client.post(
        f"/releases/{release_id}/recall",
        data={"csrf_token": token, "reason": "La carpeta se reservó."},
        follow_redirects=False,
    )
    assert recalled.status_code == 303
    assert release_status(node, release_id) == "recalled"
    with node.db.reading() as session:
        assert sorted(m.kind for m in outbox.pending(session, "us-node")) == ["recall", "release"]

    signed_in(app_client, "auditor")
    accounting = app_client.get("/audit/disclosures").text
    assert record_id in accounting and f'href="/releases/{release_id}"' in accounting
    verified = app_client.get("/audit/verify").text
    assert "OK: the audit log is intact." in verified
    log = app_client.get("/audit?action=release.approved").text
    assert "Release approved" in log and f"/releases/{release_id}" in log


def test_the_proposer_cannot_approve_even_with_the_reviewer_role(app_client: TestClient, node: Node) -> None:
    record_id = seed_record(node, make_user(node, "fgr", "analyst", "mx_fgr"))
    signed_in(app_client, "admin")  # an admin may propose and review, but never both on one release
    response = propose(app_client, [record_id])
    assert response.status_code == 303
    release_id = int(response.headers["location"].rsplit("/", 1)[-1])
    page = app_client.get(f"/releases/{release_id}").text
    assert 'value="approve"' not in page
    assert "You proposed this release, so another legal reviewer must decide on it." in page
    forged = review(app_client, release_id, "approve", "Todo en orden.")
    assert forged.status_code == 403
    assert "another legal reviewer must decide on it" in forged.text
    assert release_status(node, release_id) == "pending_review"


def test_a_release_held_for_a_finding_needs_the_reviewers_note(
    app_client: TestClient, node: Node, analyst: User, reviewer: User
) -> None:
    record_id = seed_record(node, analyst, origin="mx_sspc")  # not the FGR's: the MP must agree (CPEUM Art. 21)
    signed_in(app_client, "analyst")
    response = propose(app_client, [record_id])
    release_id = int(response.headers["location"].rsplit("/", 1)[-1])
    signed_in(app_client, "juridico")
    page = app_client.get(f"/releases/{release_id}").text
    assert "MX-CPEUM-21-MINISTERIO-PUBLICO" in page and "Requiere aprobación" in page
    silent = review(app_client, release_id, "approve", "")
    assert silent.status_code == 422 and 'id="err-note"' in silent.text
    assert "Escriba su dictamen jurídico" in silent.text
    assert release_status(node, release_id) == "pending_review"
    refused = review(app_client, release_id, "refuse", "Falta el acuerdo del Ministerio Público.")
    assert refused.status_code == 303 and release_status(node, release_id) == "refused"
    assert count(node, outbox.OutboxMessage) == 0


def test_release_form_problems_are_shown_next_to_the_fields(app_client: TestClient, node: Node, analyst: User) -> None:
    seed_record(node, analyst)
    signed_in(app_client, "analyst")
    response = propose(app_client, [], legal_basis="routine_use")  # a US ground on a Mexican node
    assert response.status_code == 422
    assert 'id="err-record_ids"' in response.text and 'id="err-legal_basis"' in response.text
    assert count(node, Release) == 0


def test_release_history_filters_by_status(app_client: TestClient, node: Node, analyst: User) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    propose(app_client, [record_id])
    assert "Release 1" in app_client.get("/releases?status=pending_review").text
    assert "Release 1" not in app_client.get("/releases?status=approved").text


# ---------------------------------------------------------------------------------------------------- requests


def test_a_request_is_answered_with_a_release_or_refused(
    app_client: TestClient, node: Node, analyst: User, reviewer: User
) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/requests/new")
    data = {
        "csrf_token": token,
        "partner": "us-node",
        "requesting_agency": "us_dea",
        "subject": "Antecedentes de Juan Pérez",
        "reference": "DEA-HOU-2025-0042",
        "purpose": "criminal_investigation",
        "record_ids": [record_id],
    }
    missing = app_client.post("/requests", data=data | {"requesting_agency": ""})
    assert missing.status_code == 422 and 'id="err-requesting_agency"' in missing.text
    created = app_client.post("/requests", data=data, follow_redirects=False)
    assert created.status_code == 303
    request_id = int(created.headers["location"].rsplit("/", 1)[-1])
    page = app_client.get(f"/requests/{request_id}").text
    assert f'href="/releases/new?request_id={request_id}"' in page
    form = app_client.get(f"/releases/new?request_id={request_id}").text
    assert f'name="request_id" value="{request_id}"' in form
    assert f'value="{record_id}" checked' in form
    assert '<option value="us_dea" selected>' in form

    signed_in(app_client, "juridico")
    token = csrf(app_client, f"/requests/{request_id}")
    refused = app_client.post(
        f"/requests/{request_id}/refuse",
        data={"csrf_token": token, "reason": "La carpeta está reservada.", "version": "1"},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    with node.db.reading() as session:
        info = session.get(InfoRequest, request_id)
        assert info is not None and info.status == "refused"
    assert "Rechazada" in app_client.get(f"/requests/{request_id}").text


# ---------------------------------------------------------------------------------------------------- policies, audit


def test_policies_read_in_spanish(app_client: TestClient, reviewer: User) -> None:
    signed_in(app_client, "juridico")
    page = app_client.get("/policies").text
    assert "Marco jurídico de este nodo: México" in page
    assert "Reglas que deniegan una entrega" in page and "Fundamentos legales" in page
    assert "COMMON-TLP-RED" in page and "nunca sale de este nodo" in page
    assert "MX-LSN-FOREIGN-AGENT-REPORT" in page and "Ley de Seguridad Nacional, Título VII" in page
    assert "tlp.cedar" in page


def test_analyst_may_not_read_the_audit_pages(app_client: TestClient, analyst: User) -> None:
    signed_in(app_client, "analyst")
    for path in ("/audit", "/audit/verify", "/audit/disclosures"):
        assert app_client.get(path).status_code == 403, path
    assert 'href="/audit"' not in app_client.get("/records").text  # nor is the menu offering them


def test_accounting_filters_us_persons(app_client: TestClient, node: Node, analyst: User, reviewer: User) -> None:
    record_id = seed_record(node, analyst)
    signed_in(app_client, "analyst")
    release_id = int(propose(app_client, [record_id]).headers["location"].rsplit("/", 1)[-1])
    signed_in(app_client, "juridico")
    assert review(app_client, release_id, "approve", "Procede.").status_code == 303
    signed_in(app_client, "admin")
    assert record_id in app_client.get("/audit/disclosures").text
    assert record_id not in app_client.get("/audit/disclosures?us_persons=1").text


def test_verification_problems_read_in_spanish() -> None:
    gettext = gettext_for("es")
    assert Problem("edited", 7).message(gettext).startswith("La entrada 7")
    assert "3" in Problem("deleted", 3, {"first": 3, "last": 5}).message(gettext)


def test_what_was_sent_is_shown_only_to_who_may_see_the_record(
    app_client: TestClient, node: Node, reviewer: User
) -> None:
    sspc = make_user(node, "sspc", "analyst", "mx_sspc")
    record_id = seed_record(node, sspc, tlp="AMBER+STRICT", origin="mx_sspc", name="Sergio Núñez")
    signed_in(app_client, "sspc")
    response = propose(app_client, [record_id], recipient_organisation="us_dea")
    release_id = int(response.headers["location"].rsplit("/", 1)[-1])
    signed_in(app_client, "juridico")
    assert review(app_client, release_id, "approve", "Consta el acuerdo de la FGR.").status_code == 303
    make_user(node, "fgr2", "analyst", "mx_fgr")
    signed_in(app_client, "fgr2")  # another agency's analyst: AMBER+STRICT is not theirs to see
    page = app_client.get(f"/releases/{release_id}").text
    assert record_id in page and "Sergio Núñez" not in page
