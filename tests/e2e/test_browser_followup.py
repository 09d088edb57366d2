"""A coordinator's day in a real browser against a real node process: sign in, switch to Spanish, create a
commitment, add a follow-up, find it on the dashboard, and download the Spanish PDF report."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from pypdf import PdfReader

from tests.e2e.conftest import RunningNode, start_node, stop_node
from tests.support.browser import launch_chromium

pytestmark = pytest.mark.e2e

TITLE_ES = "Inspeccionar túneles en la garita de Otay Mesa"
NOTE = "Se localizó la salida del túnel en Tijuana; la FGR abrió carpeta de investigación."


@pytest.fixture(scope="module")
def us_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """The US demo node: its coordinator works in English until switching."""
    node = start_node(tmp_path_factory.mktemp("e2e") / "us", country="US")
    yield node
    stop_node(node)


def _sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login?reason=required&next=/")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(password)
    page.locator("#f-password").press("Enter")  # the form works from the keyboard
    expect(page).to_have_url(f"{url}/")


def test_coordinator_follows_up_in_spanish_and_downloads_the_report(us_node: RunningNode, tmp_path: Path) -> None:
    due = dt.date.today() + dt.timedelta(days=10)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(accept_downloads=True, locale="en-US")
            page = context.new_page()
            _sign_in(page, us_node.url, "coordinator.us", "demo-coordinator-us")
            expect(page.locator("html")).to_have_attribute("lang", "en")

            # keyboard: the first Tab reaches the skip link
            page.keyboard.press("Tab")
            expect(page.locator(":focus")).to_have_attribute("href", "#main")

            page.locator("button.lang-switch").click()
            expect(page.locator("html")).to_have_attribute("lang", "es")

            page.goto(f"{us_node.url}/commitments/new")
            page.locator("#f-title_en").fill("Inspect tunnels at the Otay Mesa crossing")
            page.locator("#f-title_es").fill(TITLE_ES)
            page.locator("#f-country").select_option("US")
            page.locator("#f-lead_agency").select_option("us_cbp")
            page.locator("input[name=areas][value=border_tunnels]").check()
            page.locator("#f-due_date").fill(due.isoformat())
            page.locator("form[action='/commitments'] button[type=submit]").click()
            expect(page.locator("h1")).to_contain_text(TITLE_ES)
            commitment_url = page.url

            page.locator("#f-note").fill(NOTE)
            page.locator("form[action$='/followups'] button[type=submit]").click()
            expect(page).to_have_url(f"{commitment_url}#timeline")
            expect(page.locator("main")).to_contain_text(NOTE)

            page.goto(f"{us_node.url}/")
            expect(page.locator("main")).to_contain_text(TITLE_ES)

            page.goto(f"{us_node.url}/reports")
            page.locator("#f-from").fill("2025-09-01")
            page.locator("#f-to").fill(due.isoformat())
            page.locator("#f-lang-es").check()
            with page.expect_download() as info:
                page.locator("button[name=format][value=pdf]").click()
            target = tmp_path / "informe.pdf"
            info.value.save_as(target)
        finally:
            browser.close()

    data = target.read_bytes()
    assert data.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "Informe de avance" in text
    assert "túneles" in text
    assert "Progress report" not in text
