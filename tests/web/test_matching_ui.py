"""The matching pages driven like a browser: the review of duplicate candidates with the model's explanation,
decisions kept and audited, and private hit/no-hit with a pinned partner (offer, hits, request).

Every test runs on SQLite and PostgreSQL (the ``node`` fixture, a Mexican node); the partner is a second node
on SQLite, pinned as in tests/federation/test_envelopes_and_inbox.py. Forms are posted with the CSRF token
scraped from the page, as a browser sends it; users sign in through the /login form.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.federation.outbox import OutboxMessage
from alianza.i18n import catalog_msgids
from alianza.matching.models import MatchDecision
from alianza.matching.private_models import MatchHit, MatchOffer
from alianza.node import Node
from tests.conftest import make_user
from tests.matching.test_resolution_db import _seed
from tests.support.federation import pin as _pin
from tests.web.test_ui import MSGID, WEB, count, csrf, signed_in

CATALOG = WEB.parent / "locales" / "es" / "LC_MESSAGES" / "matching_ui.po"


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def auditor(node: Node) -> User:
    return make_user(node, "auditor", "auditor", "mx_sre")


def pair_id(node: Node, left: str, right: str) -> int:
    with node.db.reading() as session:
        row = session.scalars(
            select(MatchDecision).where(MatchDecision.left_record_id == left, MatchDecision.right_record_id == right)
        ).one()
        return row.id


def decision_of(node: Node, pair: int) -> MatchDecision:
    with node.db.reading() as session:
        row = session.get(MatchDecision, pair)
        assert row is not None
        session.expunge(row)
        return row


def add_hit(node: Node, record_id: str, *, offer_id: str = "offer-0001", score: float = 0.93) -> int:
    """A hit as ``hitnohit.receive_result`` stores it when the partner answers an offer."""
    with node.db.transaction() as session:
        hit = MatchHit(
            offer_id=offer_id,
            side="asker",
            partner="us-node",
            record_id=record_id,
            offer_ref="r1",
            hit_ref="h1",
            score=score,
        )
        session.add(hit)
        session.flush()
        return hit.id


def outbox_of(node: Node, kind: str) -> list[OutboxMessage]:
    with node.db.reading() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
        for row in rows:
            session.expunge(row)
        return rows


# ---------------------------------------------------------------------------------------------------- candidates


def test_matching_pages_need_a_session(app_client: TestClient) -> None:
    for path in ("/matching", "/matching/candidates", "/matching/private"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?reason=required"), path


def test_candidates_page_shows_a_pair_with_its_explanation(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    home = app_client.get("/matching", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/matching/candidates"
    page = app_client.get("/matching/candidates")
    assert page.status_code == 200, page.text
    assert 'href="/matching"' in page.text  # the menu entry
    pair = pair_id(node, "p-1", "p-2")
    article = page.text.split(f'id="pair-{pair}"', 1)[1].split("</article>", 1)[0]
    assert 'href="/records/p-1"' in article and 'href="/records/p-2"' in article
    assert "José Luis Pérez López" in article and "PÉREZ LÓPEZ, Pepe" in article
    assert "Why the model scored this pair" in article
    # the explanation as a table: the feature, its level, its weight and both records' values
    row = re.search(r"<th scope=\"row\">Given names</th>\s*<td>([^<]*)</td>\s*<td class=\"num\">([^<]*)</td>", article)
    assert row is not None, article
    assert row.group(1) == "A nickname of the same name (Pepe, José)" and row.group(2).startswith("+")
    assert "Surnames" in article and "Date of birth" in article
    assert f'action="/matching/candidates/{pair}/decision"' in article and 'value="confirm"' in article
    assert 'href="/records/p-5"' not in page.text  # the namesake born 25 years earlier is no candidate
    with node.db.reading() as session:
        runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.candidates")).all()
        assert [e.actor for e in runs] == ["analyst"]


def test_candidates_page_in_spanish(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    make_user(node, "analista", "analyst", "mx_fgr", lang="es")
    signed_in(app_client, "analista")
    page = app_client.get("/matching/candidates").text
    assert '<html lang="es">' in page
    for label in ("Posibles duplicados", "Nombres de pila", "Un hipocorístico del mismo nombre (Pepe, José)"):
        assert label in page, label
    assert "Confirmar: la misma entidad" in page


def test_spanish_menu_tells_matching_and_screening_apart(app_client: TestClient, node: Node) -> None:
    """Matching and screening sit side by side in the menu: their Spanish labels must not look alike."""
    make_user(node, "analista", "analyst", "mx_fgr", lang="es")
    signed_in(app_client, "analista")
    page = app_client.get("/matching/candidates").text
    menu = dict(re.findall(r'<li><a href="(/matching|/screening)"[^>]*>([^<]+)</a>', page))
    assert menu == {"/matching": "Cruce de registros", "/screening": "Verificación en listas"}
    assert "Cotejo" not in " ".join(menu.values())


def test_confirm_keeps_the_decision_and_audits_it(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/matching/candidates")
    pair = pair_id(node, "p-1", "p-2")
    response = app_client.post(
        f"/matching/candidates/{pair}/decision",
        data={"csrf_token": token, "decision": "confirm", "note": "Same CURP in the case file"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/matching/candidates#pair-{pair}"
    row = decision_of(node, pair)
    assert row.decision == "confirmed" and row.note == "Same CURP in the case file"
    assert row.decided_by_id == analyst.id and row.decided_at is not None
    with node.db.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.confirmed")).one()
        assert entry.actor == "analyst" and entry.object_id == str(pair)
        assert entry.details["left"] == "p-1" and entry.details["note"] == "Same CURP in the case file"
    page = app_client.get("/matching/candidates").text
    decided = page.split('id="h-decided"', 1)[1]
    assert f'id="pair-{pair}"' in decided and f'id="pair-{pair}"' not in page.split('id="h-decided"', 1)[0]
    assert "Confirmed: the same entity" in decided and f"by {analyst.display_name}" in decided
    assert "Same CURP in the case file" in decided


def test_reject_and_refused_decisions(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/matching/candidates")
    pair = pair_id(node, "p-3", "p-4")
    no_choice = app_client.post(f"/matching/candidates/{pair}/decision", data={"csrf_token": token, "note": "x"})
    assert no_choice.status_code == 422
    assert "Your decision was not recorded" in no_choice.text
    assert "Choose whether to confirm or to reject the match." in no_choice.text
    too_long = app_client.post(
        f"/matching/candidates/{pair}/decision",
        data={"csrf_token": token, "decision": "reject", "note": "n" * 2001},
    )
    assert too_long.status_code == 422 and 'id="err-note-' in too_long.text
    assert decision_of(node, pair).decision is None
    rejected = app_client.post(
        f"/matching/candidates/{pair}/decision",
        data={"csrf_token": token, "decision": "reject", "note": "Different mothers' surnames on the IDs"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303
    assert decision_of(node, pair).decision == "rejected"
    assert count(node, AuditEntry) > 0
    with node.db.reading() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "match.rejected")).one()
    missing = app_client.post("/matching/candidates/99999/decision", data={"csrf_token": token, "decision": "reject"})
    assert missing.status_code == 404


def test_an_auditor_reads_but_cannot_decide(app_client: TestClient, node: Node, analyst: User, auditor: User) -> None:
    _seed(node, analyst)
    signed_in(app_client, "auditor")
    page = app_client.get("/matching/candidates")
    assert page.status_code == 200
    assert "/decision" not in page.text  # no form the service would refuse
    pair = pair_id(node, "p-1", "p-2")
    token = csrf(app_client, "/matching/candidates")
    response = app_client.post(
        f"/matching/candidates/{pair}/decision", data={"csrf_token": token, "decision": "confirm", "note": ""}
    )
    assert response.status_code == 403
    assert decision_of(node, pair).decision is None
    with node.db.reading() as session:
        assert not session.scalars(select(AuditEntry).where(AuditEntry.action == "match.confirmed")).all()


def test_a_decision_needs_the_csrf_token(app_client: TestClient, node: Node, analyst: User) -> None:
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    app_client.get("/matching/candidates")
    pair = pair_id(node, "p-1", "p-2")
    response = app_client.post(f"/matching/candidates/{pair}/decision", data={"decision": "confirm"})
    assert response.status_code == 403
    assert decision_of(node, pair).decision is None


# ---------------------------------------------------------------------------------------------------- hit/no-hit


def test_send_an_offer_to_a_pinned_partner(app_client: TestClient, node: Node, us: Node, analyst: User) -> None:
    _pin(node, us)
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    page = app_client.get("/matching/private")
    assert page.status_code == 200, page.text
    assert '<option value="us-node" selected>us-node</option>' in page.text  # the only partner, preselected
    assert 'name="record_ids" value="p-1"' in page.text
    assert "No offer sent yet." in page.text
    token = csrf(app_client, "/matching/private")
    response = app_client.post(
        "/matching/offers",
        data={"csrf_token": token, "partner": "us-node", "record_ids": ["p-1", "p-3"]},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    queued = outbox_of(node, "match_offer")
    assert len(queued) == 1 and queued[0].recipient == "us-node"
    assert "p-1" not in str(queued[0].payload)  # only keyed encodings leave
    with node.db.reading() as session:
        offer = session.scalars(select(MatchOffer)).one()
        assert offer.direction == "sent" and offer.subject_count == 2 and offer.created_by_id == analyst.id
        offer_id = offer.offer_id
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "match.offer_sent")).one()
    listed = app_client.get("/matching/private").text.split('id="h-sent"', 1)[1].split("</section>", 1)[0]
    assert offer_id[:12] in listed and "Waiting for the partner&#39;s answer" in listed


def test_offer_problems_are_shown_on_the_form(app_client: TestClient, node: Node, us: Node, analyst: User) -> None:
    _pin(node, us)
    _seed(node, analyst)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/matching/private")
    nothing = app_client.post("/matching/offers", data={"csrf_token": token, "partner": "us-node"})
    assert nothing.status_code == 422
    assert "Nothing was saved: 1 problem(s) to fix." in nothing.text and "Choose at least one person." in nothing.text
    unknown = app_client.post(
        "/matching/offers", data={"csrf_token": token, "partner": "us-node", "record_ids": ["p-1", "nope"]}
    )
    assert unknown.status_code == 422
    assert "No record &#39;nope&#39; that you may see." in unknown.text
    assert 'value="p-1" checked' in unknown.text  # the choice is kept
    stranger = app_client.post(
        "/matching/offers", data={"csrf_token": token, "partner": "xx-node", "record_ids": ["p-1"]}
    )
    assert stranger.status_code == 422 and 'href="#f-partner"' in stranger.text
    assert outbox_of(node, "match_offer") == []


def test_a_hit_is_requested_from_the_partner(app_client: TestClient, node: Node, us: Node, analyst: User) -> None:
    _pin(node, us)
    _seed(node, analyst)
    hit = add_hit(node, "p-1")
    signed_in(app_client, "analyst")
    page = app_client.get("/matching/private").text
    article = page.split(f'id="hit-{hit}"', 1)[1].split("</article>", 1)[0]
    assert 'href="/records/p-1"' in article and "93.0 %" in article and "us-node" in article
    assert f'action="/matching/hits/{hit}/request"' in article
    assert 'name="purpose"' in article and 'name="subject"' in article
    token = csrf(app_client, "/matching/private")
    missing = app_client.post(f"/matching/hits/{hit}/request", data={"csrf_token": token, "purpose": ""})
    assert missing.status_code == 422 and "The request was not sent" in missing.text
    assert f'id="err-subject-{hit}"' in missing.text and f'id="err-purpose-{hit}"' in missing.text
    assert outbox_of(node, "request") == []
    response = app_client.post(
        f"/matching/hits/{hit}/request",
        data={"csrf_token": token, "purpose": "criminal_investigation", "subject": "Antecedentes del sujeto"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/matching/private#hit-{hit}"
    queued = outbox_of(node, "request")
    assert len(queued) == 1 and queued[0].recipient == "us-node"
    assert queued[0].reference == "match:offer-0001:h1"
    assert queued[0].payload["subject"] == "Antecedentes del sujeto"
    assert queued[0].payload["purpose"] == "criminal_investigation"
    after = app_client.get("/matching/private").text.split(f'id="hit-{hit}"', 1)[1].split("</article>", 1)[0]
    assert "Sent to the partner on" in after and "not delivered yet" in after
    assert 'href="/federation/us-node"' in after and "match:offer-0001:h1" in after  # the hit → its request
    assert f'action="/matching/hits/{hit}/request"' not in after  # one request per hit: no second form
    twice = app_client.post(
        f"/matching/hits/{hit}/request",
        data={"csrf_token": token, "purpose": "criminal_investigation", "subject": "Otra vez"},
    )
    assert twice.status_code == 409
    assert "A request about this hit was already sent to us-node" in twice.text
    assert len(outbox_of(node, "request")) == 1


def test_answered_offers_show_counts_and_an_auditor_gets_no_forms(
    app_client: TestClient, node: Node, analyst: User, auditor: User
) -> None:
    _seed(node, analyst)
    hit = add_hit(node, "p-1")
    with node.db.transaction() as session:
        session.add(
            MatchOffer(
                offer_id="their-offer",
                direction="received",
                partner="us-node",
                schema="Person",
                schema_fingerprint="f" * 16,
                subject_count=17,
                status="answered",
                hit_count=2,
            )
        )
    signed_in(app_client, "auditor")
    page = app_client.get("/matching/private").text
    received = page.split('id="h-received"', 1)[1]
    assert ">17</td>" in received and ">2</td>" in received
    assert (
        'action="/matching/offers"' not in page and 'action="/matching/hits/' not in page
    )  # no forms for a role that cannot act
    assert f'id="hit-{hit}"' in page
    token = csrf(app_client, "/matching/private")
    refused = app_client.post(
        f"/matching/hits/{hit}/request",
        data={"csrf_token": token, "purpose": "criminal_investigation", "subject": "x"},
    )
    assert refused.status_code == 403
    assert outbox_of(node, "request") == []


# ---------------------------------------------------------------------------------------------------- catalog


def matching_msgids() -> set[str]:
    """Every literal msgid of the matching templates and module, and the menu entry in base.html."""
    files = [*sorted((WEB / "templates" / "matching").glob("*.html")), WEB / "ui" / "matching.py"]
    found = {double or single for path in files for double, single in MSGID.findall(path.read_text("utf-8"))}
    return found | {"Matching"}


def test_every_matching_string_has_a_spanish_translation() -> None:
    msgids = matching_msgids()
    assert len(msgids) > 80  # the regex still finds the strings
    assert not sorted(msgids - catalog_msgids("es"))


def test_matching_catalog_keeps_placeholders_and_overrides_nothing() -> None:
    from babel.messages.pofile import read_po

    def read(path: Path) -> dict[str, str]:
        with path.open("rb") as fh:
            return {str(m.id): str(m.string) for m in read_po(fh, locale="es") if m.id}

    ours = read(CATALOG)
    for msgid, translation in ours.items():
        assert translation, msgid
        assert sorted(re.findall(r"\{\w*\}", msgid)) == sorted(re.findall(r"\{\w*\}", translation)), msgid
    for other in sorted(CATALOG.parent.glob("*.po")):
        if other != CATALOG:  # the catalogs are merged into one table: a msgid twice would silently win or lose
            assert not sorted(set(read(other)) & set(ours)), other.name
