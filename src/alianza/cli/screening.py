"""``alianza lists load|show`` and ``alianza screen name|file|records|hits|decide``: sanctions screening.

The commands call the same services as the API and the UI (``matching.lists``, ``matching.screening``), so the
acting user's role and need-to-know apply and every load, screening and decision is audited. A list's files are
checked whole: a file with any problem is refused with each problem and its line (exit 2), and nothing is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.cli.common import ConfigOption, JsonOption, UserOption, acting_user, emit, handles_errors, node_from
from alianza.errors import ValidationError, problem
from alianza.matching import lists as list_service
from alianza.matching import screening
from alianza.matching.features import parse_date
from alianza.matching.screening import RescreenReport, Subject, SubjectResult, country_code
from alianza.matching.screening_models import SanctionsList, ScreeningHit

lists_app = typer.Typer(help="Sanctions lists: load them from their published files, show them.", no_args_is_help=True)
screen_app = typer.Typer(
    help="Screen names, files of names and the stored records against the sanctions lists; review the hits.",
    no_args_is_help=True,
)

#: The short names of the list formats, beside the full ones (as the API and the UI accept them).
FORMAT_NAMES: dict[str, str] = {
    "ofac": list_service.OFAC,
    "uif": list_service.UIF,
    "ftm": list_service.FTM,
    **{f: f for f in list_service.FORMATS},
}
INPUT_REFUSED = "The input is not valid: {count} problem(s)."
BAD_BIRTH_DATE = "'{value}' is not a date; write 1966-07-17, 17/07/1966 or 1966."
BAD_NATIONALITY = "'{value}' is not a country; write its name, its two-letter code (mx) or a demonym (mexicana)."

ListOption = typer.Option([], "--list", "-l", help="Screen against this list only (repeatable; default: all)")
ThresholdOption = typer.Option(
    None, "--threshold", help=f"Lowest score of a hit (default {screening.DEFAULT_THRESHOLD})"
)


# ---------------------------------------------------------------------------------------------------- shared


def _users(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def _list_names(session: Session) -> dict[int, str]:
    return {lst.id: lst.name for lst in session.scalars(select(SanctionsList))}


def short_explanation(explanation: Mapping[str, Any], limit: int = 6) -> str:
    """The features that weighed most, as ``feature level (query ~ entry) +points``, most points first."""
    features = sorted(explanation.get("features") or [], key=lambda f: -abs(float(f.get("points") or 0.0)))
    parts = []
    for f in features[:limit]:
        compared = " ~ ".join(v for v in (str(f.get("query") or ""), str(f.get("entry") or "")) if v)
        parts.append(
            f"{f.get('feature')} {f.get('level')}" + (f" ({compared})" if compared else "") + f" {f['points']:+.1f}"
        )
    return "; ".join(parts)


def _hit_row(row: ScreeningHit, names: Mapping[int, str], users: Mapping[int, User]) -> dict[str, Any]:
    decider = users.get(row.decided_by_id) if row.decided_by_id is not None else None
    return {
        "id": row.id,
        "subject": row.subject_text,
        "record": row.subject_record_id or "",
        "list": names.get(row.list_id, ""),
        "entry": row.entry_external_id,
        "caption": row.entry_caption,
        "score": round(row.score, 4),
        "decision": row.decision or "",
        "decided_by": decider.username if decider is not None else "",
        "note": row.note,
        "removed": row.removed_at.isoformat() if row.removed_at else "",
        "why": short_explanation(row.explanation or {}),
        "explanation": row.explanation,
    }


def _hit_rows(session: Session, rows: Sequence[ScreeningHit]) -> list[dict[str, Any]]:
    names = _list_names(session)
    users = _users(session, (r.decided_by_id for r in rows))
    return [_hit_row(r, names, users) for r in rows]


def _typed_subject(name: str, birth_date: str | None, nationality: str | None, identifiers: Sequence[str]) -> Subject:
    problems: list[dict[str, Any]] = []
    date = (birth_date or "").strip()
    if date and not parse_date(date)[0]:
        problems.append(problem("--dob", BAD_BIRTH_DATE, value=date))
    country = (nationality or "").strip()
    code = country_code(country) if country else None
    if country and code is None:
        problems.append(problem("--nationality", BAD_NATIONALITY, value=country))
    if problems:
        raise ValidationError(INPUT_REFUSED, details=problems, count=len(problems))
    return Subject(
        names=(name.strip(),),
        birth_dates=(date,) if date else (),
        nationalities=(code,) if code else (),
        identifiers=tuple(i.strip() for i in identifiers if i.strip()),
    )


def _print_results(session: Session, results: Sequence[SubjectResult], as_json: bool, only_hits: bool) -> None:
    names = _list_names(session)
    users = _users(session, (row.decided_by_id for r in results for row in r.rows))
    if as_json:
        out = [
            {"subject": r.subject.text, "hits": [_hit_row(row, names, users) for row in r.rows]}
            for r in results
            if r.rows or not only_hits
        ]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
        return
    for r in results:
        if only_hits and not r.rows:
            continue
        typer.echo(f"{r.subject.text}: {len(r.rows)} hit(s)")
        for row in r.rows:
            hit = _hit_row(row, names, users)
            decided = f" [{hit['decision']}]" if hit["decision"] else " [pending]"
            typer.echo(f"  #{hit['id']}  {hit['score']:.2f}  {hit['list']} {hit['entry']}  {hit['caption']}{decided}")
            typer.echo(f"      {hit['why']}")


def _print_rescreen(session: Session, report: RescreenReport | None) -> None:
    if report is None:
        return
    typer.echo(
        f"Re-screened {report.screened} record(s)"
        + (f" and {report.names} typed name(s)" if report.names else "")
        + f": {len(report.new)} new hit(s), {len(report.removed)} removed, {len(report.kept)} unchanged."
    )
    for label, rows in (("new", report.new), ("removed", report.removed)):
        for hit in _hit_rows(session, rows):
            typer.echo(
                f"  {label} #{hit['id']}  {hit['score']:.2f}  {hit['record']} '{hit['subject']}'"
                f"  ~ {hit['list']} {hit['entry']} {hit['caption']}"
            )


# ---------------------------------------------------------------------------------------------------- lists


@lists_app.command("load")
@handles_errors
def load(
    name: str = typer.Argument(..., help="The list's name on this node, e.g. ofac-sdn or uif-lpb"),
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The list's files"),
    list_format: str | None = typer.Option(None, "--format", "-f", help="ofac, uif or ftm (default: from the names)"),
    source: str = typer.Option("", "--source", help="Where the files came from"),
    rescreen: bool = typer.Option(True, "--rescreen/--no-rescreen", help="Screen the stored records again"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Load a list (or its new version) from its files as published; every line is checked first."""
    given = [list_service.ListFile.read(f) for f in files]
    fmt = FORMAT_NAMES.get(list_format.strip().lower(), list_format.strip().lower()) if list_format else None
    with node_from(config) as node, node.db.transaction() as session:
        report = list_service.load_list(
            session,
            acting_user(session, user),
            node.trail,
            name,
            *given,
            fmt=fmt,
            source=source,
            rescreen_records=rescreen,
        )
        if as_json:
            out = report.summary() | {
                "added_ids": report.added,
                "removed_ids": report.removed,
                "changed_ids": report.changed,
                "new_hits": _hit_rows(session, report.rescreen.new) if report.rescreen else [],
                "removed_hits": _hit_rows(session, report.rescreen.removed) if report.rescreen else [],
            }
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
            return
        if report.unchanged:
            typer.echo(f"List {report.name}: the same files as version {report.version[:12]}; nothing changed.")
            return
        previous = f" (was {report.previous_version[:12]})" if report.previous_version else " (new list)"
        typer.echo(f"List {report.name} loaded ({report.format}): version {report.version[:12]}{previous}.")
        typer.echo(
            f"{report.entries} entries: {len(report.added)} added, {len(report.removed)} removed, "
            f"{len(report.changed)} changed" + (f", {report.skipped} skipped." if report.skipped else ".")
        )
        _print_rescreen(session, report.rescreen)


@lists_app.command("show")
@handles_errors
def show(
    names: list[str] | None = typer.Argument(None, help="Only these lists (default: all)"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """The loaded lists: version, entries, source, when and by whom each was loaded."""
    with node_from(config) as node, node.db.reading() as session:
        require(acting_user(session, user), Permission.READ_RECORDS)
        found = (
            screening.lists_named(session, names)
            if names
            else list(session.scalars(select(SanctionsList).order_by(SanctionsList.name)))
        )
        users = _users(session, (lst.loaded_by_id for lst in found))
        rows = [
            {
                "name": lst.name,
                "format": lst.format,
                "version": lst.version if as_json else lst.version[:12],
                "entries": lst.entry_count,
                "source": lst.source,
                "loaded_at": lst.loaded_at.strftime("%Y-%m-%d %H:%M") if not as_json else lst.loaded_at.isoformat(),
                "loaded_by": users[lst.loaded_by_id].username if lst.loaded_by_id in users else "",
                **({"files": lst.files} if as_json else {}),
            }
            for lst in found
        ]
    emit(rows, ["name", "format", "version", "entries", "source", "loaded_at", "loaded_by"], as_json)


# ---------------------------------------------------------------------------------------------------- screen


@screen_app.command("name")
@handles_errors
def screen_name(
    name: str = typer.Argument(..., help='The name as typed: "Mencho Oseguera", "OSEGUERA CERVANTES, Nemesio"'),
    dob: str | None = typer.Option(None, "--dob", help="Date of birth: 1966-07-17, 17/07/1966 or 1966"),
    nationality: str | None = typer.Option(None, "--nationality", help="A country, its code (mx) or a demonym"),
    identifier: list[str] = typer.Option([], "--id", help="RFC, CURP or passport number (repeatable)"),
    list_name: list[str] = ListOption,
    threshold: float | None = ThresholdOption,
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Screen one name against the lists: each hit with its score and why (audited; the hits are kept)."""
    subject = _typed_subject(name, dob, nationality, identifier)
    with node_from(config) as node, node.db.transaction() as session:
        results = screening.screen(
            session, acting_user(session, user), node.trail, [subject], lists=list_name or None, threshold=threshold
        )
        _print_results(session, results, as_json, only_hits=False)


@screen_app.command("file")
@handles_errors
def screen_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or one name a line"),
    list_name: list[str] = ListOption,
    threshold: float | None = ThresholdOption,
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Screen a file of names (a CSV with a name column, or one name per line); shows the names with hits."""
    subjects = screening.read_subjects(path.read_bytes(), path.name)
    with node_from(config) as node, node.db.transaction() as session:
        results = screening.screen(
            session, acting_user(session, user), node.trail, subjects, lists=list_name or None, threshold=threshold
        )
        _print_results(session, results, as_json, only_hits=True)
        if not as_json:
            typer.echo(f"{len(results)} name(s) screened, {sum(1 for r in results if r.rows)} with hits.")


@screen_app.command("records")
@handles_errors
def screen_records(
    list_name: list[str] = ListOption,
    record: list[str] = typer.Option([], "--record", help="Only this record (repeatable; default: all you may see)"),
    threshold: float | None = ThresholdOption,
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Screen the stored people and organisations you may see; shows the hits that appeared and went."""
    with node_from(config) as node, node.db.transaction() as session:
        report = screening.screen_records(
            session,
            acting_user(session, user),
            node.trail,
            lists=list_name or None,
            record_ids=record or None,
            threshold=threshold,
        )
        if as_json:
            out = report.summary() | {
                "new_hits": _hit_rows(session, report.new),
                "removed_hits": _hit_rows(session, report.removed),
            }
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
            return
        _print_rescreen(session, report)


@screen_app.command("hits")
@handles_errors
def hits(
    pending: bool = typer.Option(False, "--pending", help="Only the hits no one has decided on"),
    list_name: str | None = typer.Option(None, "--list", "-l"),
    record: str | None = typer.Option(None, "--record"),
    include_removed: bool = typer.Option(False, "--all", help="Also the hits no longer on the list"),
    limit: int = typer.Option(200, "--limit"),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """The stored hits you may see, best score first."""
    with node_from(config) as node, node.db.reading() as session:
        rows = screening.list_hits(
            session,
            acting_user(session, user),
            list_name=list_name,
            record_id=record,
            pending_only=pending,
            include_removed=include_removed,
            limit=limit,
        )
        out = _hit_rows(session, rows)
    if as_json:
        emit(out, [], True)
        return
    emit(out, ["id", "score", "list", "entry", "caption", "subject", "record", "decision"], False)


@screen_app.command("decide")
@handles_errors
def decide(
    hit_id: int = typer.Argument(..., help="The hit's id (alianza screen hits)"),
    decision: str = typer.Argument(..., help="match or false_positive"),
    note: str = typer.Option("", "--note", help="What you checked"),
    config: Path | None = ConfigOption,
    user: str | None = UserOption,
) -> None:
    """Decide whether a hit is the listed person or organisation (match) or someone else (false_positive)."""
    with node_from(config) as node, node.db.transaction() as session:
        row = screening.decide_hit(session, acting_user(session, user), node.trail, hit_id, decision, note)
        typer.echo(f"Hit {row.id} ({row.subject_text} ~ {row.entry_caption}): {row.decision}.")
