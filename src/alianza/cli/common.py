"""What every command shares: opening the node, acting as a user, printing errors and results."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts import service as accounts
from alianza.accounts.models import User
from alianza.errors import AlianzaError, ConfigurationError, ValidationError
from alianza.node import Node, open_node

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

ConfigOption = typer.Option(
    None, "--config", "-c", help="The node's alianza.toml (default: $ALIANZA_CONFIG or ./alianza.toml)"
)
UserOption = typer.Option(None, "--user", "-u", help="Act as this user (default: $ALIANZA_USER, else the first admin)")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table")


def fail(exc: AlianzaError) -> None:
    typer.echo(f"error [{exc.code}]: {exc.render()}", err=True)
    if isinstance(exc.details, list):
        for d in exc.details:
            if isinstance(d, dict):
                where = " ".join(f"{k} {d[k]}" for k in ("line", "field") if d.get(k) is not None)
                typer.echo(f"  - {where + ': ' if where else ''}{d.get('message', '')}", err=True)
    elif exc.details:
        typer.echo(json.dumps(exc.details, indent=2, ensure_ascii=False, default=str), err=True)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an ``AlianzaError`` into a clear message on stderr and exit code 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AlianzaError as exc:
            fail(exc)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def node_from(config: Path | None) -> Iterator[Node]:
    node = open_node(config)
    try:
        yield node
    finally:
        node.close()


def acting_user(session: Session, username: str | None) -> User:
    name = username or os.environ.get("ALIANZA_USER")
    if name:
        return accounts.get_user(session, name)
    user = session.scalar(select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id))
    if user is None:
        raise ConfigurationError("The node has no active admin; pass --user.")
    return user


def emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    widths = {c: min(w, 60) for c, w in widths.items()}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        typer.echo("  ".join(str(r.get(c, ""))[: widths[c]].ljust(widths[c]) for c in columns))
    if not rows:
        typer.echo("(none)", err=sys.stderr.isatty())


def validated(model: type[M], fields: dict[str, Any]) -> M:
    """Validate command-line input with the same schema the API uses, reported as one ``ValidationError``."""
    try:
        return model.model_validate(fields)
    except PydanticValidationError as exc:
        details = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ValidationError(
            "The input is not valid: {count} problem(s).", details=details, count=len(details)
        ) from None
