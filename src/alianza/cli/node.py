"""``alianza init`` and ``alianza serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from alianza.cli.common import ConfigOption, handles_errors
from alianza.node import init_node, open_node


@handles_errors
def init(
    directory: Path = typer.Option(
        Path("."), "--dir", "-d", help="Folder for the node's settings, database and uploads"
    ),
    country: str = typer.Option(..., "--country", help="US or MX", case_sensitive=False),
    name: str = typer.Option(..., "--name", help="Display name of the node"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL; default: a SQLite file in the node folder. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    ),
    admin_user: str = typer.Option("admin", "--admin-user"),
    admin_password: str = typer.Option(
        ...,
        "--admin-password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="ALIANZA_ADMIN_PASSWORD",
    ),
    admin_agency: str | None = typer.Option(None, "--admin-agency", help="Agency code (default: the foreign ministry)"),
    lang: str = typer.Option("en", "--lang", help="Default language of the node: en or es"),
) -> None:
    """Create a node: settings file, database schema and the first admin user."""
    country = country.upper()
    if country not in ("US", "MX"):
        raise typer.BadParameter("Use US or MX.", param_hint="--country")
    agency = admin_agency or ("mx_sre" if country == "MX" else "us_state")
    path = init_node(
        directory,
        country=country,
        name=name,
        database_url=database_url,
        admin_username=admin_user,
        admin_password=admin_password,
        admin_agency=agency,
        lang=lang,
    )
    typer.echo(f"Node '{name}' ({country}) created: {path}")
    typer.echo(f"Start it with: alianza serve --config {path}")


@handles_errors
def serve(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, "--host", help="Default from the settings (127.0.0.1)"),
    port: int | None = typer.Option(None, "--port"),
) -> None:
    """Run the node's web UI and API."""
    import uvicorn

    from alianza.web.app import create_app

    node = open_node(config)
    bind_host = host or node.settings.host
    bind_port = port or node.settings.port
    typer.echo(f"Alianza node '{node.settings.node_name}' ({node.settings.country}) on http://{bind_host}:{bind_port}/")
    try:
        uvicorn.run(create_app(node, courier=True), host=bind_host, port=bind_port, log_level="info", access_log=False)
    finally:
        node.close()
