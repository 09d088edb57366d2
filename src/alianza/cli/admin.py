"""``alianza user add|list``, ``alianza token create``, ``alianza vocab``."""

from __future__ import annotations

from pathlib import Path

import typer

from alianza.accounts import service as accounts
from alianza.cli.common import (
    ConfigOption,
    JsonOption,
    UserOption,
    acting_user,
    emit,
    handles_errors,
    node_from,
)
from alianza.i18n import normalise_lang
from alianza.vocab import vocabulary

users = typer.Typer(help="Users of the node.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens for scripts.", no_args_is_help=True)


@users.command("add")
@handles_errors
def user_add(
    username: str,
    role: str = typer.Option(..., "--role", help="coordinator, analyst, legal_reviewer, auditor or admin"),
    agency: str = typer.Option(..., "--agency"),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="ALIANZA_NEW_PASSWORD",
    ),
    display_name: str | None = typer.Option(None, "--name"),
    lang: str = typer.Option("en", "--lang"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Create a user (admins only)."""
    with node_from(config) as node, node.db.transaction() as session:
        accounts.create_user(
            session,
            username=username,
            password=password,
            role=role,
            agency=agency,
            display_name=display_name,
            lang=lang,
            actor=acting_user(session, user),
        )
    typer.echo(f"User {username} created.")


@users.command("list")
@handles_errors
def user_list(as_json: bool = JsonOption, config: Path | None = ConfigOption) -> None:
    """List users."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {"username": u.username, "role": u.role, "agency": u.agency, "lang": u.lang, "active": u.active}
            for u in accounts.list_users(session)
        ]
    emit(rows, ["username", "role", "agency", "lang", "active"], as_json)


@tokens.command("create")
@handles_errors
def token_create(
    name: str = typer.Option("cli", "--name", help="What the token is for"),
    days: int | None = typer.Option(None, "--days", help="Expire after this many days"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Issue an API token for --user; it is printed once and never stored in clear."""
    with node_from(config) as node, node.db.transaction() as session:
        token = accounts.issue_token(session, acting_user(session, user), name, days)
    typer.echo(token)


@handles_errors
def vocab(
    name: str = typer.Argument(..., help="areas, agencies, statuses, principles or roles"),
    lang: str = typer.Option("en", "--lang"),
    as_json: bool = JsonOption,
) -> None:
    """List a vocabulary's codes and labels."""
    terms = getattr(vocabulary(), name, None)
    if not isinstance(terms, dict):
        raise typer.BadParameter("Use areas, agencies, statuses, principles or roles.", param_hint="NAME")
    language = normalise_lang(lang)
    rows = [
        {"code": code, "label": term.text(language), "country": getattr(term, "country", "")}
        for code, term in terms.items()
    ]
    emit(rows, ["code", "country", "label"], as_json)
