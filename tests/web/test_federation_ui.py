"""The federation pages driven like a browser: each partner's backlog, parked messages and keys, the requeue,
the exchange history with one partner, and what arrived from partners.

Every test runs on SQLite and PostgreSQL (the ``node`` fixture, a Mexican node); the sending partner is a second
node on SQLite whose envelopes are applied in process, as in tests/federation/test_envelopes_and_inbox.py.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from alianza.accounts.models import User
from alianza.accounts.service import get_user
from alianza.audit.models import AuditEntry
from alianza.federation import envelope as env
from alianza.federation import inbox, outbox
from alianza.federation.outbox import OutboxMessage
from alianza.federation.partners import Partner, add_key, add_partner
from alianza.i18n import catalog_msgids
from alianza.identity import public_key_text
from alianza.node import Node
from alianza.store.db import utcnow
from tests.conftest import make_user
from tests.support.federation import pin as _pin
from tests.support.federation import release_payload as _release
from tests.web.test_ui import MSGID, WEB, csrf, signed_in

PARTNER = "us-node"
REFUSAL = "ingress_refused: Entity p1 lacks valid markings"
CATALOG = WEB.parent / "locales" / "es" / "LC_MESSAGES" / "federation_ui.po"


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def analyst_es(node: Node) -> User:
    return make_user(node, "analista", "analyst", "mx_fgr", lang="es")


def _send(sender: Node, receiver: Node, sequence: int, payload: dict[str, Any], kind: str = "release") -> None:
    envelope = env.make(
        sender.identity,
        sender=sender.settings.federation_id,
        recipient=receiver.settings.federation_id,
        type=kind,
        sequence=sequence,
        payload=payload,
    )
    assert inbox.receive_one(receiver, envelope.to_json())[0] == "applied"


def _generated_key() -> str:
    return public_key_text(Ed25519PrivateKey.generate().public_key())


def add_us_partner(node: Node) -> str:
    """The US partner pinned under a fresh key; returns the key's id (its fingerprint)."""
    with node.db.transaction() as session:
        admin: User = get_user(session, "admin")
        partner = add_partner(
            session, admin, name=PARTNER, url="https://us.example.org", key=_generated_key(), country="US"
        )
        return str(partner.keys[0]["key_id"])


def queue_three_one_parked(node: Node) -> list[int]:
    """Three releases queued for the partner; the partner refused the first (it is parked)."""
    with node.db.transaction() as session:
        ids = [outbox.enqueue(session, PARTNER, "release", n, {"release_id": n}).id for n in (11, 12, 13)]
        first = session.get(OutboxMessage, ids[0])
        assert first is not None
        first.failed_at = utcnow()
        first.last_error = REFUSAL
    return ids


def cell_count(page: str, kind: str) -> int:
    """The queued (``backlog``) or ``parked`` count of the first partner on a page; a zero has no such class."""
    match = re.search(rf'<strong class="fed-count fed-{kind}">(\d+)</strong>', page)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------------------------------- access


def test_federation_pages_need_a_session(app_client: TestClient, node: Node) -> None:
    add_us_partner(node)
    for path in ("/federation", "/federation/incoming", f"/federation/{PARTNER}"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path  # a page, not the node-to-node API's JSON 401
        assert response.headers["location"] == f"/login?reason=required&next={path}", path


def test_who_may_read_the_exchange(app_client: TestClient, node: Node, analyst: User, coordinator: User) -> None:
    signed_in(app_client, "analyst")
    assert 'href="/federation"' in app_client.get("/records").text
    assert app_client.get("/federation").status_code == 200
    missing = app_client.get("/federation/nowhere-node")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    signed_in(app_client, "coord")  # coordinators follow the commitments, not the exchange of records
    assert app_client.get("/federation").status_code == 403
    assert app_client.get(f"/federation/{PARTNER}").status_code == 403
    assert 'href="/federation"' not in app_client.get("/").text


# ---------------------------------------------------------------------------------------------------- partners


def test_partner_status_shows_the_backlog_the_parked_message_and_its_reason(
    app_client: TestClient, node: Node, analyst: User
) -> None:
    key_id = add_us_partner(node)
    queue_three_one_parked(node)
    signed_in(app_client, "analyst")
    page = app_client.get("/federation").text
    assert f'href="/federation/{PARTNER}"' in page and "https://us.example.org" in page
    assert cell_count(page, "backlog") == 2
    assert cell_count(page, "parked") == 1
    assert REFUSAL in page and "waiting since" in page
    assert "Never" in page and "Held: a message was refused" in page
    assert key_id in page and "None seen yet" in page
    assert "Requeue parked messages" not in page  # analysts read the exchange; admins manage it


def test_admin_requeues_parked_messages_and_an_analyst_may_not(
    app_client: TestClient, node: Node, analyst: User
) -> None:
    add_us_partner(node)
    ids = queue_three_one_parked(node)
    signed_in(app_client, "analyst")
    token = csrf(app_client, "/federation")
    refused = app_client.post(f"/federation/{PARTNER}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403
    signed_in(app_client, "admin")
    assert "Requeue parked messages" in app_client.get("/federation").text
    assert app_client.post(f"/federation/{PARTNER}/retry", data={}).status_code == 403  # no CSRF token
    token = csrf(app_client, "/federation")
    done = app_client.post(
        f"/federation/{PARTNER}/retry", data={"csrf_token": token, "next": "/federation"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/federation?requeued=1&of={PARTNER}"
    page = app_client.get(done.headers["location"]).text
    assert "1 message(s) put back in the queue for us-node." in page
    assert cell_count(page, "backlog") == 3 and cell_count(page, "parked") == 0
    with node.db.reading() as session:
        message = session.get(OutboxMessage, ids[0])
        assert message is not None and message.failed_at is None and message.last_error == ""
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "federation.retry")) is not None


def test_key_rotation_overlap_shows_when_the_old_key_expires(app_client: TestClient, node: Node, analyst: User) -> None:
    old_id = add_us_partner(node)
    with node.db.transaction() as session:
        partner = session.get(Partner, PARTNER)
        assert partner is not None
        add_key(session, partner, _generated_key(), retire_others_after=dt.timedelta(days=7))
        new_id = next(k["key_id"] for k in partner.keys if k["key_id"] != old_id)
    signed_in(app_client, "analyst")
    page = app_client.get("/federation").text
    assert page.index(new_id) < page.index(old_id)  # the current key first
    until = (utcnow() + dt.timedelta(days=7)).strftime("%Y-%m-%d")
    assert re.search(rf"{old_id}</code> <span class=\"meta\">accepted until <time[^>]*>{until}", page), page


# ---------------------------------------------------------------------------------------------------- history


def test_exchange_history_lists_what_was_sent_newest_first_with_pages(
    app_client: TestClient, node: Node, analyst: User
) -> None:
    add_us_partner(node)
    queue_three_one_parked(node)
    with node.db.transaction() as session:
        for n in range(52):
            outbox.enqueue(session, PARTNER, "audit_checkpoint", n + 1, {"seq": n + 1, "hash": "0" * 64})
        recall = outbox.enqueue(session, PARTNER, "recall", 4, {"release_id": 12, "record_ids": ["x"], "reason": "r"})
        recall.delivered_at = utcnow()
    signed_in(app_client, "analyst")
    first = app_client.get(f"/federation/{PARTNER}").text
    assert "56 message(s) in all, newest first." in first and "Page 1 of 2" in first
    newest = ("Recall 4 of release 12", "Our audit entry 52", "Our audit entry 51")
    assert [first.index(t) for t in newest] == sorted(first.index(t) for t in newest)  # newest first
    assert 'href="/releases/12">Recall 4 of release 12</a>' in first and "delivered <time" in first
    assert "Release 11" not in first  # on the second page
    assert f'href="/federation/{PARTNER}?sent=2">Older</a>' in first
    second = app_client.get(f"/federation/{PARTNER}?sent=2").text
    assert 'href="/releases/11">Release 11</a>' in second and 'href="/releases/13">Release 13</a>' in second
    assert second.count('<tr class="fed-msg-waiting">') == 5 and "Waiting" in second  # 3 checkpoints, 2 releases
    assert "Refused and parked</span>" in second and REFUSAL in second
    assert "Release of records" in second and f'href="/federation/{PARTNER}">Newer</a>' in second
    assert "Nothing was received from this partner yet." in second


def test_an_incoming_release_request_recall_and_checkpoint_are_shown(
    app_client: TestClient, node: Node, us: Node, analyst: User
) -> None:
    _pin(node, us)
    _send(us, node, 1, _release())
    _send(us, node, 2, _release("p2", "Richard Roe"))
    request = {
        "subject": "Cuentas de la red en Sonora",
        "requesting_agency": "us_dea",
        "purpose": "criminal_investigation",
    }
    _send(us, node, 3, request, kind="request")
    _send(us, node, 4, {"release_id": 1, "record_ids": ["p2"], "reason": "withdrawn"}, kind="recall")
    _send(us, node, 5, {"seq": 7, "hash": "a" * 64}, kind="audit_checkpoint")
    signed_in(app_client, "analyst")

    incoming = app_client.get("/federation/incoming").text
    assert 'href="/records/us-node:p1">John Doe</a>' in incoming and "TLP:AMBER" in incoming
    assert '<abbr title="Drug Enforcement Administration">DEA</abbr>' in incoming
    assert "Richard Roe" not in incoming  # recalled: its content is gone
    assert re.search(r'href="/requests/\d+">Cuentas de la red en Sonora</a>', incoming)
    with node.db.reading() as session:  # listing the partner's records is a bulk view, audited
        viewed = session.scalars(select(AuditEntry).where(AuditEntry.action == "record.viewed_bulk")).all()
        assert any(e.details.get("filter", {}).get("origin") == "partner" for e in viewed)

    history = app_client.get(f"/federation/{PARTNER}").text
    assert "5 envelope(s) in all, newest first." in history
    assert "Records received:" in history and 'href="/records/us-node:p1">John Doe</a>' in history
    assert "Records removed:" in history and "us-node:p2 (removed)" in history and "Reason: withdrawn" in history
    assert "Partner&#39;s release 1" in history and "Their audit entry 7" in history
    assert history.index("Their audit entry 7") < history.index("Partner&#39;s release 1")  # newest first

    status = app_client.get("/federation").text
    assert "Entry 7" in status and "In contact" in status and "received: 5" in status


def test_partner_pages_in_spanish(app_client: TestClient, node: Node, us: Node, analyst_es: User) -> None:
    _pin(node, us)
    queue_three_one_parked(node)
    _send(us, node, 1, _release())
    signed_in(app_client, "analista")
    page = app_client.get("/federation").text
    assert '<html lang="es">' in page
    for label in (
        "Nodos de la contraparte",
        "En cola",
        "Detenidos",
        "Fallos seguidos",
        "Llaves fijadas",
        "Intercambio",
    ):
        assert label in page, label
    assert 'lang="en">' + REFUSAL in page  # the partner's own words, marked as English
    history = app_client.get(f"/federation/{PARTNER}").text
    assert "Intercambio con us-node" in history and "Entrega de registros" in history
    assert "Registros recibidos:" in history and "En espera" in history
    incoming = app_client.get("/federation/incoming").text
    assert "Recibido de las contrapartes" in incoming and "John Doe" in incoming


# ---------------------------------------------------------------------------------------------------- catalog


# The module also translates templates it fills in place: ``gettext("Release {id}").format(...)``.
GETTEXT = re.compile(r"""(?<![\w.])gettext\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")


def federation_msgids() -> set[str]:
    """Every literal msgid of the federation templates and module, and the menu entry in base.html."""
    files = [*sorted((WEB / "templates" / "federation").glob("*.html")), WEB / "ui" / "federation.py"]
    found = {double or single for path in files for double, single in MSGID.findall(path.read_text("utf-8"))}
    found |= set(GETTEXT.findall((WEB / "ui" / "federation.py").read_text("utf-8")))
    return found | {"Exchange"}


def test_every_federation_string_has_a_spanish_translation() -> None:
    msgids = federation_msgids()
    assert len(msgids) > 60  # the regex still finds the strings
    assert not sorted(msgids - catalog_msgids("es"))


def test_federation_catalog_keeps_placeholders_and_overrides_nothing() -> None:
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
