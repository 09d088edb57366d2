"""``alianza demo seed`` and ``alianza demo run``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from alianza.cli.common import ConfigOption, handles_errors, node_from
from alianza.demo.seed import DemoLogin, seed
from alianza.node import init_node, open_node
from alianza.settings import DEFAULT_CONFIG_NAME

app = typer.Typer(help="The demo scenario.", no_args_is_help=True)

DEMO_ADMIN_PASSWORD = "demo-admin-password"  # noqa: S105  (published demo credential)


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


@app.command("run")
@handles_errors
def run(
    directory: Path = typer.Option(Path(".demo/mx"), "--dir"),
    port: int = typer.Option(int(os.environ.get("ALIANZA_DEMO_PORT", "8000")), "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    serve: bool = typer.Option(True, "--serve/--no-serve"),
) -> None:
    """Create (once) a Mexican demo node with the public record, then serve it."""
    config = directory / DEFAULT_CONFIG_NAME
    if not config.exists():
        init_node(
            directory,
            country="MX",
            name="Nodo México (demo)",
            database_url=None,
            admin_username="admin",
            admin_password=DEMO_ADMIN_PASSWORD,
            admin_agency="mx_sre",
            lang="es",
        )
        node = open_node(config)
        try:
            result, logins = seed(node)
        finally:
            node.close()
        typer.echo("Demo loaded: " + ", ".join(f"{n} {k}" for k, n in sorted(result.created.items())) + ".")
    else:
        from alianza.demo.seed import demo_users

        logins = [DemoLogin(u["username"], u["password"], u["role"], u["agency"]) for u in demo_users()]
        typer.echo(f"Reusing the demo node in {directory} (delete the folder to start afresh).")
    logins.insert(0, DemoLogin("admin", DEMO_ADMIN_PASSWORD, "admin", "mx_sre"))
    typer.echo(f"\nAlianza demo: http://{host}:{port}/")
    _print_logins(logins)
    if serve:
        import uvicorn

        from alianza.web.app import create_app

        node = open_node(config)
        try:
            uvicorn.run(create_app(node, courier=True), host=host, port=port, log_level="warning")
        finally:
            node.close()
