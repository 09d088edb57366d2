"""Federation under faults, with real ``alianza serve`` processes on loopback: a receiver killed in the middle of a
10,000-release stream, a sender killed between its outbox and the delivery, a sender killed after the partner
applied a batch but before it recorded the acknowledgement, a long outage of the partner, and envelopes an
attacker or a broken peer could send. Whatever happens, every release arrives exactly once and in order per
sender, and whatever is refused says why in the log and leaves nothing behind.

The tests share one pair of nodes and run in file order; each leaves the stream drained, and the checks are
cumulative (the whole stream so far, not only the test's part). The lost-acknowledgement test is last because
a failure there parks a message and holds the stream.

Most releases here are written straight into the sender's outbox with ``outbox.enqueue`` and the payload
``releases.service.review`` queues: they stand for approved releases (the release gate and the four-eyes review
are tested elsewhere; one test here goes through them for real). Audit checkpoints are switched off so the
stream holds only what the tests send and its sequence numbers are exactly 1..N.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alianza.federation import envelope as env
from alianza.identity import NodeIdentity, load_or_create
from tests.e2e.conftest import (
    ALIANZA,
    STARTUP_SECONDS,
    RunningNode,
    cli_ok,
    pair_nodes,
    start_node,
    stop_node,
    token,
)

pytestmark = pytest.mark.e2e
SENDER, RECEIVER = "mx-node", "us-node"
INBOX = "/federation/v1/inbox"
STREAM = 10_000
KILL_AFTER = 2_250  # not on a batch boundary: the receiver dies while it applies a batch
LOST_ACK = 3_000
LOST_ACK_ATTEMPTS = 5
OUTAGE = 500
ENQUEUE_CHUNK = 2_000
# Fast courier, big batches, no audit checkpoints in the stream (see the module docstring).
FAST = {
    "ALIANZA_FEDERATION_POLL_SECONDS": "0.2",
    "ALIANZA_FEDERATION_BATCH": "500",
    "ALIANZA_FEDERATION_CHECKPOINT_SECONDS": "1000000000",
}
IDLE = FAST | {"ALIANZA_FEDERATION_POLL_SECONDS": "3600"}


# ---------------------------------------------------------------------------------------------------------------
# Node processes


def serve_again(node: RunningNode, extra_env: dict[str, str]) -> RunningNode:
    """``alianza serve`` again on the same port, so the partner's pinned URL stays valid; the log is appended."""
    port = node.url.rsplit(":", 1)[1]
    process = subprocess.Popen(
        [*ALIANZA, "serve", "--config", str(node.config), "--host", "127.0.0.1", "--port", port],
        stdout=node.log.open("ab"),
        stderr=subprocess.STDOUT,
        env=os.environ | extra_env,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alianza serve exited on restart: {node.log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{node.url}/login", timeout=2).status_code == 200:
                return RunningNode(node.url, node.config, process, node.log)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"alianza serve did not answer within {STARTUP_SECONDS}s after a restart")


def kill(node: RunningNode) -> None:
    """SIGKILL: no shutdown hook runs, whatever was in flight is cut."""
    node.process.kill()
    node.process.wait(timeout=15)


@dataclass
class Pair:
    mx: RunningNode  # the sender in every test
    us: RunningNode  # the receiver

    @property
    def mx_db(self) -> Path:
        return self.mx.config.parent / "alianza.db"

    @property
    def us_db(self) -> Path:
        return self.us.config.parent / "alianza.db"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("faults")
    mx = start_node(base / "mx", country="MX", seed=False, extra_env=FAST)
    us = start_node(base / "us", country="US", seed=False, extra_env=FAST)
    nodes = Pair(mx, us)
    try:
        pair_nodes(mx, us)
        yield nodes
    finally:
        for node in (nodes.mx, nodes.us):
            if node.process.poll() is None:
                stop_node(node)


# ---------------------------------------------------------------------------------------------------------------
# Reading the nodes' databases (read-only) and writing the sender's outbox


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read a node's SQLite database without ever writing it (the node may be running)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
                return list(conn.execute(sql, params).fetchall())
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def scalar(db: Path, sql: str, *params: Any) -> Any:
    rows = query(db, sql, *params)
    return rows[0][0] if rows else None


def inbound(pair: Pair) -> int:
    return int(scalar(pair.us_db, "SELECT inbound_seq FROM partners WHERE name = ?", SENDER) or 0)


def pending(pair: Pair) -> int:
    sql = "SELECT count(*) FROM outbox WHERE recipient = ? AND delivered_at IS NULL AND failed_at IS NULL"
    return int(scalar(pair.mx_db, sql, RECEIVER))


def parked(pair: Pair) -> list[tuple[Any, ...]]:
    """Messages the sender gave up on: a stream that should flow must never have any."""
    sql = "SELECT sequence, last_error FROM outbox WHERE recipient = ? AND failed_at IS NOT NULL ORDER BY sequence"
    return query(pair.mx_db, sql, RECEIVER)


def snapshot(pair: Pair) -> dict[str, int]:
    """Everything a refused envelope must leave untouched at the receiver."""
    db = pair.us_db
    return {
        "inbox": int(scalar(db, "SELECT count(*) FROM inbox")),
        "records": int(scalar(db, "SELECT count(*) FROM records")),
        "audit": int(scalar(db, "SELECT count(*) FROM audit_log")),
        "inbound_seq": inbound(pair),
    }


def release_payload(n: int, prefix: str = "fault") -> dict[str, Any]:
    """The payload ``releases.service.review`` queues for an approved single-record release."""
    entity = {
        "id": f"{prefix}-{n:06d}",
        "schema": "Person",
        "properties": {"name": [f"Persona Ficticia {n}"]},
        "alianza:markings": {
            "origin_agency": "mx_fgr",
            "tlp": "AMBER",
            "handling": "H0",
            "source_reliability": "B",
            "info_accuracy": "2",
            "legal_basis": "mx_cnpp",
            "purpose": "criminal_investigation",
            "criminal_predicate": "FED/E2E/001/2025",
            "sensitive_categories": [],
            "sensitive_tied_to_crime": False,
            "personal_data": True,
            "us_person": False,
            "retention_review": "2030-12-31",
            "origin_country": "MX",
            "partner": None,
        },
        "alianza:redacted": [],
    }
    return {
        "release_id": n,
        "recipient_agency": "us_dea",
        "purpose": "criminal_investigation",
        "legal_basis": "criminal_investigation",
        "entities": [entity],
    }


def enqueue_releases(pair: Pair, count: int, prefix: str) -> None:
    """Approved releases into the sender's outbox, a transaction per chunk (the sender is stopped or idle)."""
    from alianza.federation.outbox import enqueue
    from alianza.node import open_node

    node = open_node(pair.mx.config)
    try:
        for start in range(1, count + 1, ENQUEUE_CHUNK):
            with node.db.transaction() as session:
                for n in range(start, min(start + ENQUEUE_CHUNK, count + 1)):
                    enqueue(session, RECEIVER, "release", f"{prefix}-{n}", release_payload(n, prefix))
    finally:
        node.close()


def wait_for(what: str, predicate: Callable[[], bool], seconds: float, pair: Pair | None = None) -> None:
    """Poll until ``predicate``; fail fast (with the sender's reason) if the sender parked a message."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if pair is not None and (stuck := parked(pair)):
            raise AssertionError(f"{what}: the sender parked {len(stuck)} message(s), first {stuck[0]}")
        time.sleep(0.25)
    raise AssertionError(f"{what}: not reached within {seconds:.0f}s")


def assert_exactly_once_in_order(pair: Pair) -> None:
    """The receiver holds each of the sender's envelopes once, in sequence order, with its records; nothing is
    missing, doubled, parked or still queued, and both audit chains verify."""
    rows = query(pair.us_db, "SELECT sequence, id, envelope_id FROM inbox WHERE sender = ? ORDER BY sequence", SENDER)
    sequences = [r[0] for r in rows]
    assert sequences == list(range(1, len(rows) + 1)), "gaps or duplicates in the receiver's inbox"
    ids = [r[1] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "envelopes were applied out of sequence order"
    assert inbound(pair) == len(rows)

    sent = query(
        pair.mx_db,
        "SELECT sequence, envelope_id, kind, payload, delivered_at, failed_at FROM outbox WHERE recipient = ?",
        RECEIVER,
    )
    assert [r for r in sent if r[4] is None or r[5] is not None] == [], "undelivered or parked messages remain"
    assert {(r[0], r[1]) for r in sent} == {(r[0], r[2]) for r in rows}, "what arrived is not what was sent"
    assert scalar(pair.mx_db, "SELECT outbound_seq FROM partners WHERE name = ?", RECEIVER) == len(rows)

    expected = {f"{SENDER}:{e['id']}" for r in sent if r[2] == "release" for e in json.loads(r[3])["entities"]}
    stored = {r[0] for r in query(pair.us_db, "SELECT id FROM records WHERE partner = ?", SENDER)}
    assert stored == expected

    for node in (pair.mx, pair.us):
        assert cli_ok("audit", "verify", "--config", str(node.config)).startswith("OK")


# ---------------------------------------------------------------------------------------------------------------
# The sender dies between its outbox and the delivery


def test_sender_killed_between_outbox_and_delivery_loses_nothing(pair: Pair) -> None:
    analyst = {"Authorization": f"Bearer {token(pair.mx, 'analista.f', 'analyst', 'mx_fgr')}"}
    reviewer = {"Authorization": f"Bearer {token(pair.mx, 'juridico.f', 'legal_reviewer', 'mx_fgr')}"}
    # The courier makes its first (idle) pass at start-up and then sleeps for an hour.
    stop_node(pair.mx)
    pair.mx = serve_again(pair.mx, IDLE)
    time.sleep(1.5)
    before = snapshot(pair)

    with httpx.Client(base_url=pair.mx.url, timeout=30) as client:
        record = client.post(
            "/api/v1/records",
            headers=analyst,
            json={
                "schema": "Person",
                "properties": {"name": ["Ovidio Guzmán López"]},
                "markings": {
                    "origin_agency": "mx_fgr",
                    "tlp": "AMBER",
                    "legal_basis": "mx_cnpp",
                    "purpose": "criminal_investigation",
                    "criminal_predicate": "FED/SIN/002/2025",
                },
            },
        )
        assert record.status_code == 201, record.text
        rid = record.json()["id"]
        proposed = client.post(
            "/api/v1/releases",
            headers=analyst,
            json={
                "record_ids": [rid],
                "recipient_node": RECEIVER,
                "recipient_agency": "us_dea",
                "purpose": "criminal_investigation",
                "legal_basis": "criminal_investigation",
            },
        )
        assert proposed.status_code == 201, proposed.text
        release = proposed.json()
        approved = client.post(
            f"/api/v1/releases/{release['id']}/review",
            headers=reviewer,
            json={"approve": True, "note": "Conforme al tratado", "version": release["version"]},
        )
        assert approved.status_code == 200, approved.text

    queued = query(
        pair.mx_db, "SELECT kind, reference FROM outbox WHERE recipient = ? AND delivered_at IS NULL", RECEIVER
    )
    assert queued == [("release", str(release["id"]))], "the approval must write the outbox in its transaction"
    kill(pair.mx)
    time.sleep(1.0)
    assert snapshot(pair) == before, "nothing may reach the partner before the courier's pass"

    pair.mx = serve_again(pair.mx, FAST)
    wait_for("the release after the sender's restart", lambda: pending(pair) == 0, 60, pair)
    assert inbound(pair) == before["inbound_seq"] + 1
    received = f"{SENDER}:{rid}"
    assert scalar(pair.us_db, "SELECT partner FROM records WHERE id = ?", received) == SENDER
    assert_exactly_once_in_order(pair)


# ---------------------------------------------------------------------------------------------------------------
# Envelopes the receiver must refuse, with a logged reason and nothing stored


def _signed(identity: NodeIdentity, sequence: int, *, sender: str = SENDER, **kwargs: Any) -> dict[str, Any]:
    return env.make(
        identity,
        sender=sender,
        recipient=RECEIVER,
        type="release",
        sequence=sequence,
        payload=release_payload(sequence, "forged"),
        **kwargs,
    ).to_json()


def _stranger() -> NodeIdentity:
    return NodeIdentity(Ed25519PrivateKey.generate())


def _forged_with_unpinned_key(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    return {"json": _signed(_stranger(), inbound(pair) + 1)}


def _forged_with_pinned_key_id(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    forged = _signed(_stranger(), inbound(pair) + 1)
    return {"json": forged | {"key_id": real.key_id}}


def _unknown_sender(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    return {"json": _signed(_stranger(), 1, sender="zz-node")}


def _replayed_id_other_content(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    sql = "SELECT envelope_id, sequence FROM inbox WHERE sender = ? ORDER BY sequence DESC LIMIT 1"
    rows = query(pair.us_db, sql, SENDER)
    assert rows, "runs after a release was delivered (module order)"
    envelope_id, sequence = rows[0]
    return {"json": _signed(real, int(sequence), envelope_id=str(envelope_id))}


def _reused_sequence(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    return {"json": {"envelopes": [_signed(real, 1)]}}


def _tampered_payload(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    signed = _signed(real, inbound(pair) + 1)
    signed["payload"]["entities"][0]["properties"]["name"] = ["Nombre Cambiado"]
    return {"json": signed}


def _oversized(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    filler = "x" * (11 * 2**20)
    return {"content": json.dumps({"envelopes": [_signed(real, inbound(pair) + 1) | {"pad": filler}]}).encode()}


def _oversized_chunked(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    """The same body without a Content-Length (chunked): the limit must hold for it as well."""
    body = _oversized(pair, real)["content"]
    return {"content": iter([body[i : i + 2**20] for i in range(0, len(body), 2**20)])}


def _malformed_json(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    return {
        "content": b'{"envelopes": [{"id": "abc", "sender": "mx-node",',
        "headers": {"content-type": "application/json"},
    }


def _not_an_envelope(pair: Pair, real: NodeIdentity) -> dict[str, Any]:
    return {"json": {"envelopes": [{"id": "abc", "sender": SENDER}]}}


# (case, request builder, HTTP status, error code, whether the reason must be in the receiver's log)
REFUSALS = [
    ("forged_signature_unpinned_key", _forged_with_unpinned_key, 401, "unknown_sender", True),
    ("forged_signature_pinned_key_id", _forged_with_pinned_key_id, 401, "bad_signature", True),
    ("unknown_sender", _unknown_sender, 401, "unknown_sender", True),
    ("replayed_id_other_content", _replayed_id_other_content, 409, "replayed_envelope", True),
    ("reused_sequence", _reused_sequence, 409, "replayed_envelope", True),
    ("tampered_payload", _tampered_payload, 401, "bad_signature", True),
    ("malformed_json", _malformed_json, 422, "malformed_envelope", True),
    ("not_an_envelope", _not_an_envelope, 422, "malformed_envelope", True),
    # Both are refused by the body-limit middleware (web/bodylimit.py): a declared length before any route runs, a
    # chunked body as its count passes the limit; either writes one "Refused request … (…; too_large)" line.
    ("oversized_body", _oversized, 413, "too_large", True),
    ("oversized_chunked_body", _oversized_chunked, 413, "too_large", True),
]


@pytest.mark.parametrize(("build", "status", "code", "logged"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_bad_envelopes_are_refused_logged_and_leave_nothing(
    pair: Pair, build: Callable[[Pair, NodeIdentity], dict[str, Any]], status: int, code: str, logged: bool
) -> None:
    real = load_or_create(pair.mx.config.parent)
    request = build(pair, real)
    before = snapshot(pair)
    log_start = pair.us.log.stat().st_size
    with httpx.Client(timeout=60) as client:
        response = client.post(f"{pair.us.url}{INBOX}", **request)

    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if logged:

        def reason_logged() -> bool:
            with pair.us.log.open("rb") as log:
                log.seek(log_start)
                new = log.read().decode(errors="replace")
            return any(
                ("Refused envelope" in line and f"({code})" in line)
                or ("Refused request POST /federation/v1/inbox" in line and f"; {code})" in line)
                for line in new.splitlines()
            )

        wait_for(f"a 'Refused envelope/request … {code})' line in the receiver's log", reason_logged, 5)
    time.sleep(0.3)
    assert snapshot(pair) == before, "a refused envelope left something behind"


def test_chunked_body_over_the_limit_on_an_api_route_is_refused_and_logged(pair: Pair) -> None:
    """The same limit holds on the user API: a real chunked upload to a real server, refused with 413 and one line."""
    headers = {
        "Authorization": f"Bearer {token(pair.us, 'dea.limit', 'analyst', 'us_dea')}",
        "Content-Type": "application/json",
    }
    secret = "body-content-never-logged"
    body = json.dumps({"title": secret, "pad": "x" * (11 * 2**20)}).encode()
    log_start = pair.us.log.stat().st_size
    with httpx.Client(timeout=60) as client:
        response = client.post(
            f"{pair.us.url}/api/v1/commitments",
            content=iter([body[i : i + 2**20] for i in range(0, len(body), 2**20)]),
            headers=headers,
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text[:500]
    assert response.json()["error"]["code"] == "too_large"

    def lines() -> list[str]:
        with pair.us.log.open("rb") as log:
            log.seek(log_start)
            new = log.read().decode(errors="replace")
        return [line for line in new.splitlines() if "Refused request POST /api/v1/commitments" in line]

    wait_for("a 'Refused request POST /api/v1/commitments' line in the log", lambda: bool(lines()), 5)
    time.sleep(0.3)
    (line,) = lines()
    assert "streamed body; too_large" in line and "limit of" in line and secret not in line


# ---------------------------------------------------------------------------------------------------------------
# A long outage of the partner


def ui_backlog_page(node: RunningNode) -> str | None:
    """The UI page listing the partners with their queue, if the node has one (signed in as the admin)."""
    with httpx.Client(base_url=node.url, timeout=30, follow_redirects=False) as client:
        path = next((p for p in ("/partners", "/federation") if client.get(p).status_code != 404), None)
        if path is None:
            return None
        form = client.get("/login")
        found = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert found, "the sign-in form carries a login token"
        signed_in = client.post(
            "/login",
            data={"username": "admin", "password": "e2e-admin-password", "login_token": found.group(1), "next": path},
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        page = client.get(path)
        assert page.status_code == 200
        return page.text


def test_long_outage_queue_holds_shows_backlog_and_drains(pair: Pair) -> None:
    before = inbound(pair)
    stop_node(pair.us)
    enqueue_releases(pair, OUTAGE, "outage")

    def partner_row() -> dict[str, Any]:
        rows: list[dict[str, Any]] = json.loads(cli_ok("partner", "list", "--json", "--config", str(pair.mx.config)))
        return next(r for r in rows if r["name"] == RECEIVER)

    wait_for("delivery failures to be counted", lambda: int(partner_row()["failures"]) >= 4, 90)
    row = partner_row()
    assert row["queued"] == OUTAGE
    assert row["last_error"], "the reason of the failed deliveries is shown to the operator"
    assert parked(pair) == [], "an unreachable partner is retried, never given up on"
    page = ui_backlog_page(pair.mx)
    if page is not None:
        assert re.search(rf"{RECEIVER}.*?\b{OUTAGE}\b", page, re.S), "the UI shows the partner's backlog"

    pair.us = serve_again(pair.us, FAST)
    # The courier backs off up to 30 s between attempts while the partner is down.
    wait_for("the backlog to drain", lambda: pending(pair) == 0, 180, pair)
    assert inbound(pair) == before + OUTAGE
    row = partner_row()
    assert row["queued"] == 0 and row["failures"] == 0 and row["last_error"] == ""
    assert_exactly_once_in_order(pair)


# ---------------------------------------------------------------------------------------------------------------
# The receiver is killed in the middle of a 10,000-release stream


def test_receiver_killed_mid_stream_every_release_arrives_once_in_order(pair: Pair) -> None:
    stop_node(pair.mx)
    before = inbound(pair)
    enqueue_releases(pair, STREAM, "stream")
    pair.mx = serve_again(pair.mx, FAST)

    wait_for("the stream to pass the kill point", lambda: inbound(pair) >= before + KILL_AFTER, 300, pair)
    kill(pair.us)
    at_kill = inbound(pair)
    assert before + KILL_AFTER <= at_kill < before + STREAM, "the receiver must die in the middle of the stream"
    time.sleep(1.0)
    pair.us = serve_again(pair.us, FAST)

    wait_for("all releases after the receiver's restart", lambda: inbound(pair) == before + STREAM, 600, pair)
    wait_for("the sender to see every acknowledgement", lambda: pending(pair) == 0, 120, pair)
    releases = scalar(pair.us_db, "SELECT count(*) FROM inbox WHERE sender = ? AND type = 'release'", SENDER)
    assert releases == before + STREAM  # every envelope so far is a release; no checkpoints in this stream
    assert_exactly_once_in_order(pair)


# ---------------------------------------------------------------------------------------------------------------
# The acknowledgement is lost: the receiver applied a batch, the sender died before recording its ack


def test_sender_killed_before_recording_the_ack_resends_and_nothing_doubles(pair: Pair) -> None:
    """The case exactly-once exists for: the partner committed the batch, the sender never learnt it. Once
    restarted, the sender resends envelopes the receiver already applied; they must be recognised as the same
    envelopes and acknowledged again (not applied twice, not refused as replays)."""
    stop_node(pair.mx)
    base = inbound(pair)
    enqueue_releases(pair, LOST_ACK, "lostack")
    delivered_sql = "SELECT max(sequence) FROM outbox WHERE recipient = ? AND delivered_at IS NOT NULL"
    established = False
    for _attempt in range(LOST_ACK_ATTEMPTS):
        pair.mx = serve_again(pair.mx, FAST)
        with contextlib.closing(sqlite3.connect(f"file:{pair.us_db}?mode=ro", uri=True, timeout=10)) as conn:
            read = "SELECT inbound_seq FROM partners WHERE name = ?"
            start = int(conn.execute(read, (SENDER,)).fetchone()[0])
            deadline = time.monotonic() + 60
            # Watch the receiver's commits closely; the moment one lands, the sender is still reading the ack.
            while time.monotonic() < deadline and int(conn.execute(read, (SENDER,)).fetchone()[0]) == start:
                time.sleep(0.001)
        kill(pair.mx)
        applied, acknowledged = inbound(pair), int(scalar(pair.mx_db, delivered_sql, RECEIVER) or 0)
        if applied > acknowledged:
            established = True
            break
        assert applied < base + LOST_ACK, "no batch left to try again with"
    assert established, f"the sender recorded every ack before it died, {LOST_ACK_ATTEMPTS} times"

    pair.mx = serve_again(pair.mx, FAST)
    wait_for("the resent batch to be acknowledged", lambda: pending(pair) == 0, 180, pair)
    assert inbound(pair) == base + LOST_ACK
    assert_exactly_once_in_order(pair)
