"""Real node processes for end-to-end tests: ``alianza init``, ``alianza demo seed`` and ``alianza serve`` run as
subprocesses on a free loopback port, exactly as an operator would run them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ALIANZA = [sys.executable, "-m", "alianza.cli.main"]
USER_PASSWORD = "e2e-user-password"  # for users the tests add with `alianza user add`
STARTUP_SECONDS = 60


@dataclass
class RunningNode:
    url: str
    config: Path
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ALIANZA, *args], capture_output=True, text=True, check=False, env=env, timeout=300)


def cli_ok(*args: str) -> str:
    """Run an `alianza` command that must succeed; its stdout."""
    done = run_cli(*args, env=os.environ | {"ALIANZA_NEW_PASSWORD": USER_PASSWORD})
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def pair_nodes(a: RunningNode, b: RunningNode) -> None:
    """Each node pins the other, as two operators would after exchanging `alianza keys show` out of band."""
    for me, other in ((a, b), (b, a)):
        info = json.loads(cli_ok("keys", "show", "--json", "--config", str(other.config)))
        cli_ok(
            "partner",
            "add",
            info["node"],
            "--url",
            other.url,
            "--key",
            info["key"],
            "--country",
            info["country"],
            "--seal-key",
            info["seal_key"],
            "--config",
            str(me.config),
        )


def token(node: RunningNode, username: str, role: str, agency: str) -> str:
    """Add a user to a running node and issue an API token for it."""
    cli_ok("user", "add", username, "--role", role, "--agency", agency, "--config", str(node.config))
    return cli_ok("token", "create", "--user", username, "--config", str(node.config)).strip()


def start_node(
    directory: Path,
    *,
    country: str = "MX",
    database_url: str | None = None,
    seed: bool = True,
    extra_env: dict[str, str] | None = None,
) -> RunningNode:
    env = os.environ | {"ALIANZA_ADMIN_PASSWORD": "e2e-admin-password"}
    args = ["init", "--dir", str(directory), "--country", country, "--name", f"Nodo {country} e2e"]
    if database_url:
        args += ["--database-url", database_url]
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    config = directory / "alianza.toml"
    if seed:
        seeded = run_cli("demo", "seed", "--config", str(config))
        assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    log = directory / "serve.log"
    process = subprocess.Popen(
        [*ALIANZA, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=os.environ | (extra_env or {}),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alianza serve exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return RunningNode(url, config, process, log)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"alianza serve did not answer within {STARTUP_SECONDS}s: {log.read_text(errors='replace')}")


def stop_node(node: RunningNode) -> None:
    node.process.terminate()
    try:
        node.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait(timeout=15)


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A seeded Mexican demo node served by a real ``alianza serve`` process (SQLite)."""
    node = start_node(tmp_path_factory.mktemp("e2e") / "mx")
    yield node
    stop_node(node)
