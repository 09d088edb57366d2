"""Two sovereign node processes on loopback: a release crosses signed, is stored read-only with the partner's
markings, a recall removes it at the partner and its acknowledgement comes back, and each side can prove the
other's audit history it saw is still a prefix of what the other shows now."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningNode, cli_ok, pair_nodes, run_cli, start_node, stop_node, token

pytestmark = pytest.mark.e2e


def wait_for(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNode, RunningNode]]:
    base = tmp_path_factory.mktemp("federation")
    fast = {"ALIANZA_FEDERATION_CHECKPOINT_SECONDS": "1", "ALIANZA_FEDERATION_POLL_SECONDS": "0.2"}
    mx = start_node(base / "mx", country="MX", seed=False, extra_env=fast)
    us = start_node(base / "us", country="US", seed=False, extra_env=fast)
    try:
        pair_nodes(mx, us)
        yield mx, us
    finally:
        stop_node(mx)
        stop_node(us)


def test_release_recall_and_cross_checked_audit(nodes: tuple[RunningNode, RunningNode], tmp_path: Path) -> None:
    mx, us = nodes
    analyst = {"Authorization": f"Bearer {token(mx, 'analista', 'analyst', 'mx_fgr')}"}
    reviewer = {"Authorization": f"Bearer {token(mx, 'juridico', 'legal_reviewer', 'mx_fgr')}"}
    us_analyst = {"Authorization": f"Bearer {token(us, 'dea.analyst', 'analyst', 'us_dea')}"}
    with httpx.Client(base_url=mx.url, timeout=30) as client:
        record = client.post(
            "/api/v1/records",
            headers=analyst,
            json={
                "schema": "Person",
                "properties": {"name": ["Ismael Zambada García"], "birthDate": ["1948-01-01"]},
                "markings": {
                    "origin_agency": "mx_fgr",
                    "tlp": "AMBER",
                    "legal_basis": "mx_cnpp",
                    "purpose": "criminal_investigation",
                    "criminal_predicate": "FED/SIN/001/2025",
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
                "recipient_node": "us-node",
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

    received_id = f"mx-node:{rid}"
    with httpx.Client(base_url=us.url, timeout=30) as client:

        def arrived() -> bool:
            return client.get(f"/api/v1/records/{received_id}", headers=us_analyst).status_code == 200

        wait_for(arrived)
        got = client.get(f"/api/v1/records/{received_id}", headers=us_analyst).json()
        assert got["partner"] == "mx-node"
        assert got["read_only"] is True
        assert got["markings"]["tlp"] == "AMBER"
        assert got["markings"]["origin_agency"] == "mx_fgr"
        assert got["properties"]["name"] == ["Ismael Zambada García"]
        edit = client.patch(
            f"/api/v1/records/{received_id}",
            headers=us_analyst,
            json={"version": got["version"], "properties": {"name": ["Otro"]}},
        )
        assert edit.status_code == 403

    with httpx.Client(base_url=mx.url, timeout=30) as client:
        recalled = client.post(
            f"/api/v1/releases/{release['id']}/recall",
            headers=analyst,
            json={"reason": "La fuente retiró la información"},
        )
        assert recalled.status_code == 201, recalled.text

    with httpx.Client(base_url=us.url, timeout=30) as client:

        def removed() -> bool:
            response = client.get(f"/api/v1/records/{received_id}", headers=us_analyst)
            return response.status_code == 200 and response.json()["purged"]

        wait_for(removed)
        assert client.get(f"/api/v1/records/{received_id}", headers=us_analyst).json()["properties"] == {}

    def acknowledged() -> bool:
        listing = cli_ok("partner", "list", "--json", "--config", str(mx.config))
        return bool(json.loads(listing)[0]["queued"] == 0)

    wait_for(acknowledged)
    log = json.loads(cli_ok("audit", "log", "--json", "--limit", "500", "--config", str(us.config)))
    assert {"record.received", "record.recalled_by_partner"} <= {e["action"] for e in log}
    assert cli_ok("audit", "verify", "--config", str(us.config)).startswith("OK")


def test_each_side_proves_the_other_kept_its_history(nodes: tuple[RunningNode, RunningNode]) -> None:
    mx, us = nodes

    def checked() -> bool:
        done = run_cli("audit", "verify", "--partner", "us-node", "--config", str(mx.config))
        return done.returncode == 0 and done.stdout.startswith("OK")

    wait_for(checked)
    done = run_cli("audit", "verify", "--partner", "mx-node", "--config", str(us.config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "still shows entry" in done.stdout
