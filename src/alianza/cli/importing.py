"""``alianza import FILE [--dry-run]``."""

from __future__ import annotations

from pathlib import Path

import typer

from alianza.cli.common import ConfigOption, UserOption, acting_user, handles_errors, node_from
from alianza.cooperation.importer import import_file


@handles_errors
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .yaml/.yml or .csv file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Bulk-load commitments, meetings, indicators or observations; a file with any bad row writes nothing."""
    with node_from(config) as node, node.db.transaction() as session:
        result = import_file(session, acting_user(session, user), file)
        if dry_run:
            session.rollback()
    made = ", ".join(f"{n} {k}" for k, n in sorted(result.created.items())) or "nothing"
    changed = ", ".join(f"{n} {k}" for k, n in sorted(result.updated.items()))
    prefix = "Dry run, nothing written: would create" if dry_run else "Created"
    typer.echo(
        f"{prefix} {made}" + (f"; {'would update' if dry_run else 'updated'} {changed}" if changed else "") + "."
    )
