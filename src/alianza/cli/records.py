"""``alianza record add|list|show|purge|retention``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from alianza.cli.common import (
    ConfigOption,
    JsonOption,
    UserOption,
    acting_user,
    emit,
    handles_errors,
    node_from,
    validated,
)
from alianza.records import service
from alianza.records.schemas import RecordInput

app = typer.Typer(help="Intelligence records and their markings.", no_args_is_help=True)


def _properties(pairs: list[str]) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"Use name=value, not '{pair}'.", param_hint="--prop")
        name, value = pair.split("=", 1)
        props.setdefault(name.strip(), []).append(value.strip())
    return props


@app.command("add")
@handles_errors
def add(
    schema: str = typer.Option(..., "--schema", help="Person, Company, BankAccount, Payment, Firearm, Tunnel, ..."),
    prop: list[str] = typer.Option([], "--prop", "-p", help="Property as name=value (repeatable)"),
    agency: str = typer.Option(..., "--agency", help="Originating agency code"),
    legal_basis: str = typer.Option(..., "--legal-basis"),
    purpose: str = typer.Option(..., "--purpose"),
    predicate: str = typer.Option("", "--predicate", help="Criminal predicate (reasonable suspicion)"),
    tlp: str = typer.Option("AMBER", "--tlp"),
    handling: str = typer.Option("H0", "--handling"),
    reliability: str = typer.Option("B", "--reliability"),
    accuracy: str = typer.Option("2", "--accuracy"),
    us_person: bool = typer.Option(False, "--us-person"),
    review: dt.datetime | None = typer.Option(None, "--review", formats=["%Y-%m-%d"], help="Retention review date"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Create a record with its markings (the node's ingest rules apply)."""
    data = validated(
        RecordInput,
        {
            "schema": schema,
            "properties": _properties(prop),
            "markings": {
                "origin_agency": agency,
                "tlp": tlp.upper(),
                "handling": handling.upper(),
                "source_reliability": reliability.upper(),
                "info_accuracy": accuracy,
                "legal_basis": legal_basis,
                "purpose": purpose,
                "criminal_predicate": predicate,
                "us_person": us_person,
                "retention_review": review.date() if review else None,
            },
        },
    )
    with node_from(config) as node, node.db.transaction() as session:
        record = service.create_record(session, acting_user(session, user), node.trail, node.settings.country, data)
        typer.echo(f"Record {record.id} created: {record.schema} '{record.caption}'.")


@app.command("list")
@handles_errors
def list_(
    schema: str | None = typer.Option(None, "--schema"),
    text: str | None = typer.Option(None, "--q"),
    origin: str | None = typer.Option(None, "--origin", help="local or partner"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Search records (audited as a bulk view)."""
    with node_from(config) as node, node.db.transaction() as session:
        found = service.search_records(
            session,
            acting_user(session, user),
            node.trail,
            service.RecordFilter(schema=schema, text=text, origin=origin),
        )
        rows = [
            {
                "id": r.id,
                "schema": r.schema,
                "tlp": r.tlp,
                "agency": r.origin_agency,
                "partner": r.partner or "",
                "caption": r.caption,
            }
            for r in found
        ]
    emit(rows, ["id", "schema", "tlp", "agency", "partner", "caption"], as_json)


@app.command("show")
@handles_errors
def show(record_id: str, config: Path | None = ConfigOption, user: str | None = UserOption) -> None:
    """Show a record as FtM JSON with its markings."""
    with node_from(config) as node, node.db.reading() as session:
        record = service.get_record(session, acting_user(session, user), record_id)
        typer.echo(json.dumps(service.to_ftm(record), indent=2, ensure_ascii=False))


@app.command("purge")
@handles_errors
def purge(
    record_id: str,
    reason: str = typer.Option(..., "--reason"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Purge a record's content (the audit keeps that it existed and why it was purged)."""
    with node_from(config) as node, node.db.transaction() as session:
        service.purge_record(session, acting_user(session, user), node.trail, record_id, reason)
    typer.echo(f"Record {record_id} purged.")


@app.command("retention")
@handles_errors
def retention(
    within: int = typer.Option(30, "--within", help="Days ahead"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """The retention-review queue: records due for review or purge."""
    with node_from(config) as node, node.db.reading() as session:
        rows = [
            {"id": r.id, "review": r.retention_review.isoformat(), "schema": r.schema, "caption": r.caption}
            for r in service.retention_queue(session, acting_user(session, user), within)
        ]
    emit(rows, ["id", "review", "schema", "caption"], as_json)


@app.command("import")
@handles_errors
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="FtM JSON lines, CSV or a STIX 2.1 bundle"),
    fmt: str = typer.Option(..., "--format", help="ftm, csv or stix"),
    mapping: Path | None = typer.Option(None, "--mapping", help="CSV column mapping (YAML), required for csv"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate everything and write nothing"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Import records; the whole file is validated first and a file with any bad entry writes nothing."""
    from alianza.records import interchange

    text = file.read_text(encoding="utf-8-sig")
    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        country = node.settings.country
        if fmt == "ftm":
            summary = interchange.import_ftm(session, actor, node.trail, country, text)
        elif fmt == "stix":
            summary = interchange.import_stix(session, actor, node.trail, country, text)
        elif fmt == "csv":
            if mapping is None:
                raise typer.BadParameter("A CSV import needs --mapping.", param_hint="--mapping")
            spec = interchange.load_mapping(mapping.read_text(encoding="utf-8"))
            summary = interchange.import_csv(session, actor, node.trail, country, text, spec)
        else:
            raise typer.BadParameter("Use ftm, csv or stix.", param_hint="--format")
        if dry_run:
            session.rollback()
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.skipped.items()))
    prefix = "Dry run, nothing written: would create" if dry_run else "Created"
    typer.echo(f"{prefix} {summary.created} record(s)" + (f"; skipped {skipped}" if skipped else "") + ".")


@app.command("export")
@handles_errors
def export(
    fmt: str = typer.Option(..., "--format", help="ftm or stix"),
    output: Path = typer.Option(..., "-o", "--output"),
    schema: str | None = typer.Option(None, "--schema"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Export the records you may see (audited); markings travel with them."""
    import json as json_module

    from alianza.records import interchange

    with node_from(config) as node, node.db.transaction() as session:
        actor = acting_user(session, user)
        found = service.search_records(session, actor, node.trail, service.RecordFilter(schema=schema), limit=100_000)
        if fmt == "ftm":
            body = "".join(line + "\n" for line in interchange.export_ftm(found))
        elif fmt == "stix":
            bundle = interchange.export_stix(found, node.settings.node_name, node.settings.country)
            body = json_module.dumps(bundle, indent=2, ensure_ascii=False)
        else:
            raise typer.BadParameter("Use ftm or stix.", param_hint="--format")
        node.trail.append(session, actor, "record.exported", "record", "*", {"format": fmt, "count": len(found)})
    output.write_text(body, encoding="utf-8")
    typer.echo(f"Wrote {len(found)} record(s) to {output}.")
