"""``alianza demo seed`` and ``alianza demo run`` (two federated nodes on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer

from alianza.accounts.service import get_user
from alianza.cli.common import ConfigOption, handles_errors, node_from
from alianza.demo.seed import DemoLogin, demo_users, seed
from alianza.node import Node, init_node, open_node
from alianza.settings import DEFAULT_CONFIG_NAME
from alianza.vocab import vocabulary

app = typer.Typer(help="The demo scenario.", no_args_is_help=True)

DEMO_ADMIN_PASSWORD = "demo-admin-password"  # noqa: S105  (published demo credential)
NAMES = {"MX": "Nodo México (demo)", "US": "United States node (demo)"}
ADMIN_AGENCY = {"MX": "mx_sre", "US": "us_state"}
LANG = {"MX": "es", "US": "en"}


def _print_logins(logins: list[DemoLogin]) -> None:
    typer.echo("Demo logins (illustrative accounts, never for real data):")
    for login in logins:
        typer.echo(f"  {login.username:<16} {login.password:<24} {login.role:<15} {login.agency}")


@app.command("seed")
@handles_errors
def seed_cmd(config: Path | None = ConfigOption) -> None:
    """Load the demo scenario into an initialised, empty node (without serving it)."""
    with node_from(config) as node:
        result, logins = seed(node)
    typer.echo("Loaded: " + ", ".join(f"{n} {k}" for k, n in sorted(result.created.items())) + ".")
    _print_logins(logins)


def _create(directory: Path, country: str, port: int) -> Node:
    config = init_node(
        directory,
        country=country,
        name=NAMES[country],
        database_url=None,
        admin_username="admin",
        admin_password=DEMO_ADMIN_PASSWORD,
        admin_agency=ADMIN_AGENCY[country],
        lang=LANG[country],
    )
    text = config.read_text(encoding="utf-8").replace("port = 8000", f"port = {port}")
    config.write_text(text, encoding="utf-8")
    node = open_node(config)
    seed(node)
    return node


def _pair(node: Node, other: Node, url: str) -> None:
    from alianza.federation.partners import add_partner
    from alianza.identity import public_key_text

    with node.db.transaction() as session:
        admin = get_user(session, "admin")
        add_partner(
            session,
            admin,
            name=other.settings.federation_id,
            url=url,
            country=other.settings.country,
            key=public_key_text(other.identity.public_key),
            seal_key=other.identity.seal_public_text,
        )


def _logins(country: str) -> list[DemoLogin]:
    agencies = vocabulary().agencies
    found = [DemoLogin("admin", DEMO_ADMIN_PASSWORD, "admin", ADMIN_AGENCY[country])]
    for u in demo_users():
        if agencies[u["agency"]].country == country and u["username"] != "admin":
            found.append(DemoLogin(u["username"], u["password"], u["role"], u["agency"]))
    return found


@app.command("run")
@handles_errors
def run(
    directory: Path = typer.Option(Path(".demo"), "--dir"),
    port: int = typer.Option(
        int(os.environ.get("ALIANZA_DEMO_PORT", "8000")),
        "--port",
        help="The Mexican node's port; the US node takes the next one",
    ),
    serve: bool = typer.Option(True, "--serve/--no-serve"),
) -> None:
    """Create (once) a Mexican and a US node, paired, with the public record and demo releases, and serve both."""
    ports = {"MX": port, "US": port + 1}
    urls = {c: f"http://127.0.0.1:{p}" for c, p in ports.items()}
    dirs = {c: directory / c.lower() for c in ports}
    if not (dirs["MX"] / DEFAULT_CONFIG_NAME).exists():
        from alianza.demo.exchange import seed_records

        nodes = {c: _create(dirs[c], c, ports[c]) for c in ports}
        try:
            _pair(nodes["MX"], nodes["US"], urls["US"])
            _pair(nodes["US"], nodes["MX"], urls["MX"])
            for country, node in nodes.items():
                made = seed_records(node)
                typer.echo(f"{country}: {made['records']} records, {made['releases']} releases approved and queued.")
        finally:
            for node in nodes.values():
                node.close()
    else:
        typer.echo(f"Reusing the demo nodes in {directory} (delete the folder to start afresh).")
    typer.echo("")
    for country in ports:
        typer.echo(f"Alianza {NAMES[country]}: {urls[country]}/")
        _print_logins(_logins(country))
        typer.echo("")
    if not serve:
        return
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alianza.cli.main",
                "serve",
                "--config",
                str(dirs[c] / DEFAULT_CONFIG_NAME),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports[c]),
            ]
        )
        for c in ports
    ]
    try:
        for country in ports:
            _wait(urls[country])
        typer.echo("Both nodes are up; their couriers deliver the demo releases. Press Ctrl-C to stop.")
        while all(p.poll() is None for p in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            p.send_signal(signal.SIGINT)
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _wait(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
