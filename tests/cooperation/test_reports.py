"""The progress report: the period's facts as they stood at its end, in Spanish or English, as HTML and PDF.

The scenario is built through the domain services. A report is always built inside a read-only session and
rendered after it closed, the way the API does it, so a report that still leaned on ORM objects would fail here.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import io
import re
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jinja2.ext import babel_extract
from pypdf import PdfReader

from alianza.accounts.models import User
from alianza.cooperation import commitments, indicators, meetings, reports
from alianza.cooperation.models import FollowUp
from alianza.cooperation.schemas import (
    CommitmentInput,
    CommitmentPatch,
    DecisionInput,
    IndicatorInput,
    MeetingInput,
    ObservationInput,
)
from alianza.errors import ValidationError
from alianza.i18n import Lang, catalog_msgids, gettext_for
from alianza.node import Node
from tests.conftest import make_user

START, END = dt.date(2025, 12, 1), dt.date(2026, 1, 31)
TEMPLATE = Path(reports.__file__).parent / "templates" / "report.html"

DONE_EN, DONE_ES = "Freeze the accounts of designated networks", "Congelar las cuentas de las redes designadas"
LATE_EN, LATE_ES = "Publish the list of blocked persons", "Publicar la lista de personas bloqueadas"
SOON_EN, SOON_ES = "Map the tunnels near Tijuana", "Mapear los túneles cercanos a Tijuana"
FUTURE_EN, FUTURE_ES = "Train customs officers in Reynosa", "Capacitar a los agentes aduanales en Reynosa"
OLD_DECISION_ES = "Iniciar los trabajos de congelamiento"
NEW_DECISION_ES = "Dar por cumplidos los trabajos de congelamiento"
NOTE_IN = "Revisado con la UIF en la reunión de enero."
NOTE_AFTER = "Nota escrita después del periodo."
SOURCE_IN = "UIF press release of 2 January 2026"
SOURCE_AFTER = "Bulletin published after the period"


@dataclass(frozen=True)
class Ids:
    done: int
    late: int
    soon: int


def _commitment(title_en: str, title_es: str, area: str, lead: str, due: dt.date, **extra: object) -> CommitmentInput:
    return CommitmentInput.model_validate(
        {
            "title_en": title_en,
            "title_es": title_es,
            "areas": [area],
            "country": "MX",
            "lead_agency": lead,
            "due_date": due,
            "status": "agreed",
            **extra,
        }
    )


def _meeting(title_en: str, title_es: str, date: dt.date) -> MeetingInput:
    return MeetingInput(
        title_en=title_en,
        title_es=title_es,
        date=date,
        place="Ciudad de México",
        agencies=["mx_sre", "us_state"],
        source="Comunicado de la SRE",
    )


def _backdate(node: Node, followup_id: int, when: dt.datetime) -> None:
    """Pretend a note was typed on ``when`` (the service stamps the wall clock)."""
    with node.db.transaction() as session:
        followup = session.get(FollowUp, followup_id)
        assert followup is not None
        followup.created_at = when


def seed(node: Node, actor: User) -> Ids:
    """Three commitments, three meetings (before, in and after the period), an indicator, notes in and out."""
    with node.db.transaction() as session:
        done = commitments.create_commitment(
            session,
            actor,
            _commitment(
                DONE_EN, DONE_ES, "illicit_finance", "mx_uif", dt.date(2026, 1, 15), supporting_agencies=["mx_shcp"]
            ),
        )
        late = commitments.create_commitment(
            session, actor, _commitment(LATE_EN, LATE_ES, "illicit_finance", "mx_uif", dt.date(2025, 12, 20))
        )
        soon = commitments.create_commitment(
            session,
            actor,
            _commitment(SOON_EN, SOON_ES, "border_tunnels", "mx_defensa", dt.date(2026, 2, 15), illustrative=True),
        )
        before = meetings.create_meeting(
            session, actor, _meeting("First meeting", "Primera reunión", dt.date(2025, 9, 26))
        )
        meetings.add_decision(
            session,
            actor,
            before.id,
            DecisionInput(
                text_en="Start the asset-freezing work",
                text_es=OLD_DECISION_ES,
                updates_commitment_id=done.id,
                updates=CommitmentPatch(version=done.version, status="in_progress", progress=20),
            ),
        )
        during = meetings.create_meeting(
            session, actor, _meeting("Second meeting of the group", "Segunda reunión del grupo", dt.date(2025, 12, 11))
        )
        meetings.add_decision(
            session,
            actor,
            during.id,
            DecisionInput(
                text_en="Declare the asset-freezing work complete",
                text_es=NEW_DECISION_ES,
                updates_commitment_id=done.id,
                updates=CommitmentPatch(version=done.version, status="completed"),
                illustrative=True,
            ),
        )
        after = meetings.create_meeting(
            session, actor, _meeting("Third meeting", "Tercera reunión", dt.date(2026, 2, 20))
        )
        meetings.add_decision(
            session,
            actor,
            after.id,
            DecisionInput(
                text_en="Train customs officers",
                text_es="Capacitar a los agentes aduanales",
                creates=_commitment(FUTURE_EN, FUTURE_ES, "illicit_finance", "mx_anam", dt.date(2026, 6, 30)),
            ),
        )
        note_in = commitments.add_note(session, actor, late.id, NOTE_IN)
        note_after = commitments.add_note(session, actor, late.id, NOTE_AFTER)
        # Dropped today, long after the period: the report must still show it overdue at the period end.
        commitments.update_commitment(session, actor, late.id, CommitmentPatch(version=late.version, status="dropped"))
        indicators.create_indicator(
            session,
            actor,
            IndicatorInput(
                code="uif_frozen_accounts",
                name_en="Accounts frozen by the UIF",
                name_es="Cuentas congeladas por la UIF",
                unit_en="accounts",
                unit_es="cuentas",
                area="illicit_finance",
                direction="increase",
                source="UIF",
                target_value=10_000,
                target_date=dt.date(2026, 12, 31),
                target_illustrative=True,
            ),
        )
        for date, value, source, illustrative in (
            (dt.date(2025, 6, 30), 5_000, "UIF annual report 2024", False),
            (dt.date(2025, 12, 31), 8_147, SOURCE_IN, False),
            (dt.date(2026, 1, 20), 8_300, "Demo figure", True),
            (dt.date(2026, 3, 31), 9_999, SOURCE_AFTER, False),
        ):
            indicators.observe(
                session,
                actor,
                "uif_frozen_accounts",
                ObservationInput(
                    date=date,
                    value=value,
                    source=source,
                    period_en=f"As of {date:%B %Y}",
                    period_es=f"Al cierre de {date:%m/%Y}",
                    illustrative=illustrative,
                ),
            )
        ids = Ids(done.id, late.id, soon.id)
        in_id, after_id = note_in.id, note_after.id
    _backdate(node, in_id, dt.datetime(2026, 1, 10, 16, 30))
    _backdate(node, after_id, dt.datetime(2026, 3, 5, 9, 0))
    return ids


def build(node: Node, actor: User, lang: Lang, start: dt.date = START, end: dt.date = END) -> reports.ProgressReport:
    with node.db.reading() as session:
        return reports.build_report(session, actor, start, end, lang, node.settings)


def visible_text(html: str) -> str:
    """The words a reader sees: no <style>, no tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<style.*?</style>|<title>.*?</title>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def row_of(html: str, needle: str) -> str:
    """The table row that contains ``needle``."""
    rows = [r for r in re.findall(r"<tr>.*?</tr>", html, flags=re.S) if needle in r]
    assert rows, needle
    return str(rows[0])


def test_state_is_the_one_at_the_period_end(node: Node, coordinator: User) -> None:
    ids = seed(node, coordinator)
    report = build(node, coordinator, "es")

    assert [area.code for area in report.areas] == ["border_tunnels", "illicit_finance"]
    finance = report.areas[1]
    by_id = {c.id: c for c in finance.commitments}
    assert set(by_id) == {ids.done, ids.late}  # the commitment created after the period does not exist yet
    assert by_id[ids.done].status == "completed" and by_id[ids.done].progress == 100
    assert by_id[ids.late].status == "overdue"  # dropped only after the period
    assert [c.id for c in finance.completed] == [ids.done]
    assert [c.id for c in finance.overdue] == [ids.late]
    assert [c.id for c in report.areas[0].due_soon] == [ids.soon]

    summary = report.summary
    assert summary.total_commitments == 3
    assert dict(summary.status_counts) == {
        "proposed": 0,
        "agreed": 1,
        "in_progress": 0,
        "at_risk": 0,
        "completed": 1,
        "dropped": 0,
        "overdue": 1,
    }
    assert (summary.followups, summary.meetings, summary.completed, summary.overdue, summary.due_soon) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert [(f.date, f.kind) for f in finance.followups] == [
        (dt.date(2025, 12, 11), "decision"),
        (dt.date(2026, 1, 10), "note"),
    ]
    assert [m.title["es"] for m in report.meetings] == ["Segunda reunión del grupo"]

    (indicator,) = finance.indicators
    assert indicator.latest.value == 8_300 and indicator.latest.illustrative
    assert indicator.previous is not None and indicator.previous.source == SOURCE_IN
    assert indicator.change == 3_300  # since the first observation: there is no baseline
    assert SOURCE_AFTER not in indicator.chart_sources


def test_spanish_html_speaks_spanish(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    html = reports.render_html(build(node, coordinator, "es"))
    text = visible_text(html)

    assert html.startswith("<!DOCTYPE html>") and '<html lang="es">' in html
    assert "Informe de avance — Mecanismo de seguimiento" in text
    assert "del 1 de diciembre de 2025 al 31 de enero de 2026" in text
    for spanish in (
        "Flujos financieros ilícitos",
        "Seguridad fronteriza y túneles clandestinos",
        "Cumplido",
        "Vencido",
        "Acordado",
        DONE_ES,
        LATE_ES,
        SOON_ES,
    ):
        assert spanish in text, spanish
    for english in (
        "Illicit financial flows",
        "Border security",
        "Completed",
        "Overdue",
        "Agreed",
        "In progress",
        DONE_EN,
        LATE_EN,
        SOON_EN,
        "Progress report",
        "Page",
    ):
        assert english not in text, english
    assert "Combate a los cárteles" not in text  # areas without content are left out
    # The overdue commitment is labelled as such in its own row.
    assert "Vencido" in visible_text(row_of(html, LATE_ES))


def test_no_english_interface_text_in_spanish_report(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    text = visible_text(reports.render_html(build(node, coordinator, "es")))
    gettext, translated = gettext_for("es"), catalog_msgids("es")
    same_in_both = {m for m in translated if gettext(m) == m}  # "Total", "no"
    leftovers = [
        msgid
        for msgid in sorted(used_msgids() - same_in_both)
        if "{" not in msgid and re.search(rf"(?<!\w){re.escape(msgid)}(?!\w)", text)
    ]
    assert leftovers == []


def test_followups_inside_the_period_only(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    text = visible_text(reports.render_html(build(node, coordinator, "es")))

    assert NOTE_IN in text
    assert NEW_DECISION_ES in text  # the decision of the meeting held in the period
    assert "Segunda reunión del grupo" in text
    assert NOTE_AFTER not in text
    assert OLD_DECISION_ES not in text and "Primera reunión" not in text and "Tercera reunión" not in text
    assert FUTURE_ES not in text
    assert "Estado: En curso → Cumplido" in text  # the change, told in Spanish


def test_indicator_figures_show_their_sources(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    html = reports.render_html(build(node, coordinator, "en"))
    text = visible_text(html)

    assert "8,300" in text and "Source: Demo figure" in text
    assert f"Source: {SOURCE_IN}" in text
    assert "UIF annual report 2024" in text  # first observation and chart
    assert SOURCE_AFTER not in text and "9,999" not in text
    assert html.count("<svg") == 1 and "Accounts frozen by the UIF" in html
    assert "As of January 2026" in text  # the latest figure's period label
    assert "▲ Last move in the desired direction" in text  # 8,147 → 8,300 on an indicator meant to rise


@pytest.mark.parametrize("lang", ["es", "en"])
def test_illustrative_items_are_marked(node: Node, coordinator: User, lang: Lang) -> None:
    seed(node, coordinator)
    html = reports.render_html(build(node, coordinator, lang))
    word = "ilustrativo" if lang == "es" else "illustrative"
    legend = "datos de demostración inventados" if lang == "es" else "invented demonstration data"
    soon, done, late = (SOON_ES, DONE_ES, LATE_ES) if lang == "es" else (SOON_EN, DONE_EN, LATE_EN)

    assert legend in visible_text(html)
    assert word in visible_text(row_of(html, soon))  # illustrative commitment
    assert word not in visible_text(row_of(html, late))  # real one, with no illustrative follow-up
    decision_rows = [r for r in re.findall(r"<tr>.*?</tr>", html, flags=re.S) if done in r and "illus" in r]
    assert decision_rows  # the illustrative meeting decision's follow-up
    target = re.search(r"<th>[^<]*</th>\s*<td>10,000.*?</td>", html, flags=re.S)
    assert target is not None and word in target.group(0)  # the illustrative target


def test_report_without_illustrative_data_has_no_legend(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        commitments.create_commitment(
            session, coordinator, _commitment(LATE_EN, LATE_ES, "fuel_theft", "mx_pemex", dt.date(2026, 6, 1))
        )
    html = reports.render_html(build(node, coordinator, "en"))
    assert "invented demonstration data" not in html and 'class="illus"' not in html
    assert "Preventing fuel theft" in html


def test_html_is_standalone(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    html = reports.render_html(build(node, coordinator, "en"))
    assert '<html lang="en">' in html and "<style>" in html
    for external in ("<link", "<script", "src=", "@import", "url("):
        assert external not in html, external


def test_text_from_data_is_escaped(node: Node, coordinator: User) -> None:
    with node.db.transaction() as session:
        c = commitments.create_commitment(
            session,
            coordinator,
            _commitment(
                "Close <b>tunnels</b>",
                "Cerrar <script>alert(1)</script>",
                "border_tunnels",
                "mx_defensa",
                dt.date(2026, 6, 1),
            ),
        )
        note = commitments.add_note(session, coordinator, c.id, "x <img src=y>")
        note_id = note.id
    _backdate(node, note_id, dt.datetime(2026, 1, 5))
    html = reports.render_html(build(node, coordinator, "es"))
    assert "<script>alert" not in html and "<img" not in html
    assert "Cerrar &lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("lang", ["es", "en"])
def test_pdf(node: Node, coordinator: User, lang: Lang) -> None:
    seed(node, coordinator)
    pdf = reports.render_pdf(build(node, coordinator, lang))
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    if lang == "es":
        assert "Informe de avance — Mecanismo de seguimiento" in text
        assert DONE_ES in text and "Vencido" in text and "Página 1 de" in text
        assert DONE_EN not in text and "Progress report" not in text
    else:
        assert "Progress report — Follow-up mechanism" in text
        assert DONE_EN in text and "Overdue" in text and "Page 1 of" in text
        assert DONE_ES not in text and "Informe de avance" not in text


def test_period_must_not_end_before_it_starts(node: Node, coordinator: User) -> None:
    with pytest.raises(ValidationError) as caught:
        build(node, coordinator, "es", start=END, end=START)
    assert "before it starts" in str(caught.value)


def test_auditors_can_read_the_report(node: Node, coordinator: User) -> None:
    seed(node, coordinator)
    auditor = make_user(node, "auditor", "auditor", "mx_sre")
    report = build(node, auditor, "en")
    assert report.summary.total_commitments == 3 and report.node_name == "Nodo de prueba"
    assert report.node_country == "MX"


def test_empty_period_still_renders(node: Node, admin: User) -> None:
    html = reports.render_html(build(node, admin, "es"))
    text = visible_text(html)
    assert "No se celebraron reuniones en el periodo." in text
    assert "No se registraron compromisos ni indicadores hasta el cierre del periodo." in text


# ------------------------------------------------------------------------------------------ catalog


def used_msgids() -> set[str]:
    """Every msgid the template passes to _() and every one reports.py marks with _() or N_()."""
    with TEMPLATE.open("rb") as source:
        found = {str(message) for _, _, message, _ in babel_extract(source, ("_",), (), {})}
    tree = ast.parse(Path(reports.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"_", "N_"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def test_every_report_string_has_a_spanish_translation() -> None:
    used = used_msgids()
    assert len(used) > 50  # the extraction found the template's strings
    assert sorted(used - catalog_msgids("es")) == []


def test_translations_keep_their_placeholders() -> None:
    gettext = gettext_for("es")
    for msgid in used_msgids():
        assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", gettext(msgid))), msgid


def test_page_footer_is_built_from_css_counters() -> None:
    assert str(reports.page_footer_css(gettext_for("es"))) == '"Página " counter(page) " de " counter(pages)'
    assert str(reports.page_footer_css(gettext_for("en"))) == '"Page " counter(page) " of " counter(pages)'


def test_api_serves_the_report(node: Node, coordinator: User, api: TestClient) -> None:
    seed(node, coordinator)
    query = {"from": START.isoformat(), "to": END.isoformat(), "lang": "es"}
    page = api.get("/api/v1/reports/progress", params=query)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html") and DONE_ES in page.text
    pdf = api.get("/api/v1/reports/progress", params={**query, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "alianza-report-es-2025-12-01-2026-01-31.pdf" in pdf.headers["content-disposition"]


def test_node_name_cannot_break_out_of_the_print_css(node: Node, admin: User) -> None:
    report = dataclasses.replace(build(node, admin, "en"), node_name='Evil "; } </style><script>x()</script>')
    html = reports.render_html(report)
    assert "<script>" not in html
    assert html.count("</style>") == 1
