"""Sharing a record with the partner in a real browser against a real node process, in Spanish: an FGR analyst
creates a person record, proposes its release to the DEA, sees it held for review with the gate's reasons;
a legal reviewer of the FGR signs in and approves it, and sees it queued for delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import RunningNode, start_node, stop_node
from tests.support.browser import launch_chromium

pytestmark = pytest.mark.e2e

NAME = "Ramón Castillo Ibarra"
PREDICATE = "Carpeta de investigación FED/SON/HMO/0001234/2025: trasiego de fentanilo por Nogales."


@pytest.fixture(scope="module")
def seeded_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A seeded Mexican node (the demo users exist only with the seed) served by ``alianza serve``."""
    node = start_node(tmp_path_factory.mktemp("e2e-release") / "mx")
    yield node
    stop_node(node)


def _sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login?reason=required&next=/")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(password)
    page.locator("#f-password").press("Enter")
    expect(page).to_have_url(f"{url}/")


def _field(name: str) -> str:
    """The selector of a form field whose name has a dot (``markings.legal_basis``), which CSS ids cannot hold."""
    return f'[id="f-{name}"]'


def test_analyst_proposes_and_a_legal_reviewer_approves_in_spanish(seeded_node: RunningNode) -> None:
    url = seeded_node.url
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(locale="es-MX").new_page()

            # The analyst's profile is in Spanish.
            _sign_in(page, url, "analyst.mx", "demo-analyst-mx")
            expect(page.locator("html")).to_have_attribute("lang", "es")
            page.locator(".main-nav a[href='/records']").click()
            expect(page.locator("h1")).to_have_text("Registros")

            # A person record through the form: first the kind, then its fields and markings.
            page.goto(f"{url}/records/new")
            page.locator("#f-schema").select_option("Person")
            page.locator("form.kind-chooser button[type=submit]").click()
            expect(page.locator("main")).to_contain_text("Fecha de nacimiento")
            page.locator(_field("properties.name")).fill(NAME)
            page.locator(_field("properties.nationality")).fill("mx")
            page.locator(_field("properties.birthDate")).fill("1979-11-20")
            expect(page.locator(_field("markings.origin_agency"))).to_have_value("mx_fgr")
            page.locator(_field("markings.legal_basis")).select_option("mx_cnpp")
            page.locator(_field("markings.purpose")).select_option("criminal_investigation")
            page.locator(_field("markings.criminal_predicate")).fill(PREDICATE)
            page.locator("form[action='/records'] button[type=submit]").click()
            expect(page.locator("h1")).to_contain_text(NAME)
            expect(page.locator("h1 .tlp")).to_have_text("TLP:AMBER")
            expect(page.locator("main")).to_contain_text("Código Nacional de Procedimientos Penales")

            # "Share with the partner" opens the proposal with this record ticked.
            page.get_by_role("link", name="Compartir con la contraparte").click()
            expect(page.locator("h1")).to_have_text("Proponer una entrega")
            expect(page.locator("input[name=record_ids]:checked")).to_have_count(1)
            expect(page.locator("#f-recipient_node")).to_have_value("us-node")
            page.locator("#f-recipient_agency").select_option("us_dea")
            page.locator("#f-purpose").select_option("criminal_investigation")
            page.locator("#f-legal_basis").select_option("criminal_investigation")
            page.locator("#f-justification").fill("La DEA investiga la misma red en Arizona.")
            page.get_by_role("button", name="Enviar al control de entregas").click()

            expect(page.locator(".state-title")).to_have_text("Pendiente de revisión")
            gate = page.locator("section[aria-labelledby=h-gate]")
            expect(gate).to_contain_text("MX-LGPDPPSO-TRANSFER")
            expect(gate).to_contain_text("La transferencia de datos personales se sustenta en un supuesto")
            expect(page.locator("main")).to_contain_text("Informar por escrito de este intercambio con agentes")
            expect(page.locator("main")).to_contain_text("Vence el")
            expect(page.get_by_role("button", name="Aprobar y enviar")).to_have_count(0)  # four eyes
            release_url = page.url

            page.locator("form[action='/logout'] button").click()
            expect(page.locator("main")).to_contain_text("Cerró su sesión.")

            # A legal reviewer of the FGR decides.
            _sign_in(page, url, "legal.mx", "demo-legal-mx")
            page.goto(release_url)
            expect(page.locator(".state-title")).to_have_text("Pendiente de revisión")
            page.locator("#f-note").fill("La DEA es autoridad competente; el registro es de la FGR. Procede.")
            page.get_by_role("button", name="Aprobar y enviar").click()

            expect(page.locator(".state-title")).to_contain_text("Aprobada")
            expect(page.locator(".state-title")).to_contain_text("en cola para entrega a us-node")
            expect(page.locator("main")).to_contain_text("Lo que se envió:")
            expect(page.locator("main")).to_contain_text(NAME)
            expect(page.locator("main")).to_contain_text("La DEA es autoridad competente")
        finally:
            browser.close()
