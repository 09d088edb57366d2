"""API of sanctions screening: names and files screened against the loaded lists, the stored records screened,
the lists loaded from their published files, the review of the hits, and the algorithm as data.

The routes are thin: ``matching.screening`` screens, keeps the hits with their explanation and audits every
screening and decision; ``matching.lists`` checks a list's files whole (every problem with its file and line)
and replaces its entries in the request's transaction, so a refused file leaves nothing behind. Loading a list
needs the ``edit_records`` permission, which the service enforces.

``POST /screening`` takes either JSON (``{"names": [{"name", "birth_date", "nationality", "identifiers"}],
"list", "threshold"}``) or a multipart upload of a file of names (``file``, as ``read_subjects`` reads it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as InputError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUploadFile

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import ValidationError, problem
from alianza.matching import lists as list_service
from alianza.matching import screening
from alianza.matching.features import parse_date
from alianza.matching.screening import DEFAULT_THRESHOLD, RescreenReport, Subject, SubjectResult, country_code
from alianza.matching.screening_models import SanctionsList, ScreeningHit
from alianza.web.api.cooperation import read_upload
from alianza.web.auth import api_viewer
from alianza.web.context import Viewer, node_of

router = APIRouter(tags=["screening"])
ViewerDep = Annotated[Viewer, Depends(api_viewer)]

#: The short names of the list formats the API, the UI and the CLI accept, beside the full ones.
FORMAT_NAMES: dict[str, str] = {
    "ofac": list_service.OFAC,
    "uif": list_service.UIF,
    "ftm": list_service.FTM,
    **{f: f for f in list_service.FORMATS},
}
HITS_SHOWN = 200

INPUT_REFUSED = "The input is not valid: {count} problem(s)."
BAD_BIRTH_DATE = "'{value}' is not a date; write 1966-07-17, 17/07/1966 or 1966."
BAD_NATIONALITY = "'{value}' is not a country; write its name, its two-letter code (mx) or a demonym (mexicana)."
NO_FILE = "Choose a file of names to screen (a CSV with a name column, or one name per line)."
NO_LIST_FILES = "Choose the list's files (OFAC: sdn.csv with alt.csv and add.csv; UIF: one CSV; FtM: one JSON lines)."


# ---------------------------------------------------------------------------------------------------- input


def format_of(value: str | None) -> str | None:
    """A format as given (``ofac``, ``uif``, ``ftm`` or a full name); empty: detect it from the file names.
    An unknown one is passed on as it is, for ``parse_list`` to refuse with the formats it knows."""
    text = (value or "").strip().lower()
    return FORMAT_NAMES.get(text, text) or None


def typed_subject(
    name: str,
    birth_date: str | None = None,
    nationality: str | None = None,
    identifiers: Sequence[str] = (),
    *,
    field: str = "",
    problems: list[dict[str, Any]] | None = None,
) -> Subject:
    """A name as an analyst typed it, with the evidence that may come with it. A birth date that is no date and
    a nationality that is no country are problems (added to ``problems``, or raised at once without it)."""
    found: list[dict[str, Any]] = [] if problems is None else problems
    before = len(found)
    date = (birth_date or "").strip()
    if date and not parse_date(date)[0]:
        found.append(problem(f"{field}birth_date", BAD_BIRTH_DATE, value=date))
    country = (nationality or "").strip()
    code = country_code(country) if country else None
    if country and code is None:
        found.append(problem(f"{field}nationality", BAD_NATIONALITY, value=country))
    if problems is None and len(found) > before:
        raise ValidationError(INPUT_REFUSED, details=found, count=len(found))
    return Subject(
        names=(name.strip(),),
        birth_dates=(date,) if date else (),
        nationalities=(code,) if code else (),
        identifiers=tuple(i.strip() for i in identifiers if i.strip()),
    )


def lists_of(value: str | Sequence[str] | None) -> list[str] | None:
    """One list's name or several; None (or empty): every loaded list."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    return [n.strip() for n in names if n.strip()] or None


class NameInput(BaseModel):
    """A name to screen, as typed, with what is known of the person."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=500)
    birth_date: str | None = Field(default=None, max_length=40, examples=["1966-07-17"])
    nationality: str | None = Field(default=None, max_length=100, examples=["mx"])
    identifiers: list[str] = Field(default_factory=list, max_length=20)


class ScreenInput(BaseModel):
    """Names to screen against one list, several, or (without ``list``) every loaded list."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    names: list[NameInput] = Field(min_length=1, max_length=10_000)
    lists: str | list[str] | None = Field(default=None, alias="list")
    threshold: float | None = Field(default=None, description=f"Default {DEFAULT_THRESHOLD}")
    limit: int = Field(default=20, ge=1, le=100, description="Hits kept per name, best first")


class RecordsInput(BaseModel):
    """Screen the stored people and organisations the caller may see (all, or ``record_ids``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    lists: str | list[str] | None = Field(default=None, alias="list")
    record_ids: list[str] | None = None
    threshold: float | None = None


class DecisionInput(BaseModel):
    decision: Literal["match", "false_positive"]
    note: str = Field(default="", max_length=2000)


# ---------------------------------------------------------------------------------------------------- views


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def list_names(session: Session) -> dict[int, str]:
    return {lst.id: lst.name for lst in session.scalars(select(SanctionsList))}


def users_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def list_view(lst: SanctionsList, users: Mapping[int, User]) -> dict[str, Any]:
    loader = users.get(lst.loaded_by_id) if lst.loaded_by_id is not None else None
    return {
        "name": lst.name,
        "format": lst.format,
        "version": lst.version,
        "source": lst.source,
        "entries": lst.entry_count,
        "files": lst.files,
        "loaded_at": _iso(lst.loaded_at),
        "loaded_by": loader.username if loader is not None else None,
    }


def hit_view(row: ScreeningHit, names: Mapping[int, str], users: Mapping[int, User]) -> dict[str, Any]:
    decider = users.get(row.decided_by_id) if row.decided_by_id is not None else None
    return {
        "id": row.id,
        "list": names.get(row.list_id, ""),
        "list_version": row.list_version,
        "entry": {"id": row.entry_external_id, "caption": row.entry_caption, "schema": row.entry_schema},
        "subject": {"text": row.subject_text, "record_id": row.subject_record_id},
        "score": round(row.score, 4),
        "algorithm": row.algorithm,
        "explanation": row.explanation,
        "decision": row.decision,
        "note": row.note,
        "decided_by": decider.username if decider is not None else None,
        "decided_at": _iso(row.decided_at),
        "first_seen_at": _iso(row.first_seen_at),
        "screened_at": _iso(row.screened_at),
        "removed_at": _iso(row.removed_at),
        "version": row.version,
    }


def hit_views(session: Session, rows: Sequence[ScreeningHit]) -> list[dict[str, Any]]:
    names = list_names(session)
    users = users_by_id(session, (r.decided_by_id for r in rows))
    return [hit_view(r, names, users) for r in rows]


def subject_view(subject: Subject) -> dict[str, Any]:
    return {
        "name": subject.text,
        "names": list(subject.names),
        "schema": subject.schema,
        "birth_dates": list(subject.birth_dates),
        "nationalities": list(subject.nationalities),
        "identifiers": list(subject.identifiers),
    }


def results_view(
    session: Session, results: Sequence[SubjectResult], lists: Sequence[str] | None, threshold: float | None
) -> dict[str, Any]:
    names = list_names(session)
    users = users_by_id(session, (row.decided_by_id for r in results for row in r.rows))
    return {
        "algorithm": screening.ALGORITHM,
        "threshold": DEFAULT_THRESHOLD if threshold is None else threshold,
        "lists": {lst.name: lst.version for lst in screening.lists_named(session, lists)},
        "screened": len(results),
        "with_hits": sum(1 for r in results if r.rows),
        "results": [
            {"subject": subject_view(r.subject), "hits": [hit_view(row, names, users) for row in r.rows]}
            for r in results
        ],
    }


def rescreen_view(session: Session, report: RescreenReport | None) -> dict[str, Any]:
    if report is None:
        return {"summary": None, "new_hits": [], "removed_hits": []}
    return {
        "summary": report.summary(),
        "new_hits": hit_views(session, report.new),
        "removed_hits": hit_views(session, report.removed),
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined, for an OpenAPI request body given by hand."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_SCREEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(ScreenInput.model_json_schema(by_alias=True))},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV or one name a line"},
                        "list": {"type": "string", "description": "A list's name; empty: every loaded list"},
                        "threshold": {"type": "number"},
                    },
                }
            },
        },
    }
}


# ---------------------------------------------------------------------------------------------------- screening


async def _subjects_of(request: Request) -> tuple[list[Subject], list[str] | None, float | None, int]:
    """The names to screen from a JSON body or from an uploaded file, with the lists, threshold and limit."""
    node = node_of(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, StarletteUploadFile) or not upload.filename:
            raise ValidationError(INPUT_REFUSED, details=[problem("file", NO_FILE)], count=1)
        # read_upload only reads from the upload; the form gives Starlette's class, which FastAPI's extends.
        data = await read_upload(cast(UploadFile, upload), node.settings.upload_max_bytes)
        raw_threshold = form.get("threshold")
        threshold: float | None = None
        if isinstance(raw_threshold, str) and raw_threshold.strip():
            try:
                threshold = float(raw_threshold)
            except ValueError:
                raise ValidationError(
                    INPUT_REFUSED, details=[problem("threshold", "Enter a number.")], count=1
                ) from None
        chosen = form.get("list")
        return (
            screening.read_subjects(data, upload.filename),
            lists_of(chosen if isinstance(chosen, str) else None),
            threshold,
            20,
        )
    try:
        body = ScreenInput.model_validate(await request.json())
    except InputError as exc:
        raise RequestValidationError(exc.errors()) from None
    except ValueError:
        raise ValidationError(
            "The request is not valid; see details for each field.",
            details=[problem("body", "Send JSON (names) or a multipart form with a file of names.")],
        ) from None
    problems: list[dict[str, Any]] = []
    subjects = [
        typed_subject(n.name, n.birth_date, n.nationality, n.identifiers, field=f"names.{i}.", problems=problems)
        for i, n in enumerate(body.names)
    ]
    if problems:
        raise ValidationError(INPUT_REFUSED, details=problems, count=len(problems))
    return subjects, lists_of(body.lists), body.threshold, body.limit


@router.post("/screening", openapi_extra=_SCREEN_BODY)
async def screen_names(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    """Screen names as typed (JSON) or a file of names (multipart) against the loaded lists. The hits are kept,
    with their explanation, so a decision on one stays with it; the screening is audited."""
    subjects, chosen, threshold, limit = await _subjects_of(request)
    node = node_of(request)
    with node.db.transaction() as session:
        results = screening.screen(
            session, viewer.user, node.trail, subjects, lists=chosen, threshold=threshold, limit=limit
        )
        return results_view(session, results, chosen, threshold)


@router.post("/screening/records")
def screen_stored_records(request: Request, viewer: ViewerDep, body: RecordsInput | None = None) -> dict[str, Any]:
    """Screen the stored people and organisations you may see; returns the hits that appeared and went."""
    body = body or RecordsInput()
    node = node_of(request)
    with node.db.transaction() as session:
        report = screening.screen_records(
            session,
            viewer.user,
            node.trail,
            lists=lists_of(body.lists),
            record_ids=body.record_ids,
            threshold=body.threshold,
        )
        return rescreen_view(session, report)


@router.get("/screening/hits")
def list_hits(
    request: Request,
    viewer: ViewerDep,
    pending: bool = False,
    list_name: Annotated[str | None, Query(alias="list")] = None,
    record_id: str | None = None,
    include_removed: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = HITS_SHOWN,
) -> list[dict[str, Any]]:
    """The stored hits you may see, best score first; ``pending``: those no one has decided on yet."""
    with node_of(request).db.reading() as session:
        rows = screening.list_hits(
            session,
            viewer.user,
            list_name=list_name or None,
            record_id=record_id or None,
            pending_only=pending,
            include_removed=include_removed,
            limit=limit,
        )
        return hit_views(session, rows)


@router.post("/screening/hits/{hit_id}/decision")
def decide_hit(request: Request, viewer: ViewerDep, hit_id: int, body: DecisionInput) -> dict[str, Any]:
    """Record (or revise) the decision on a hit: a true ``match`` or a ``false_positive``, with a note."""
    node = node_of(request)
    with node.db.transaction() as session:
        row = screening.decide_hit(session, viewer.user, node.trail, hit_id, body.decision, body.note)
        return hit_views(session, [row])[0]


@router.get("/screening/algorithm")
def algorithm(viewer: ViewerDep) -> dict[str, Any]:
    """The screening algorithm as data: its name, default threshold and every feature's levels and points."""
    require(viewer.user, Permission.READ_RECORDS)
    return screening.describe()


# ---------------------------------------------------------------------------------------------------- lists


@router.get("/lists")
def loaded_lists(request: Request, viewer: ViewerDep) -> list[dict[str, Any]]:
    """The sanctions lists loaded on this node, each at its current version."""
    require(viewer.user, Permission.READ_RECORDS)
    with node_of(request).db.reading() as session:
        rows = list(session.scalars(select(SanctionsList).order_by(SanctionsList.name)))
        users = users_by_id(session, (r.loaded_by_id for r in rows))
        return [list_view(r, users) for r in rows]


@router.post("/lists")
async def load_list(
    request: Request,
    response: Response,
    viewer: ViewerDep,
    name: Annotated[str, Form(description="The list's name on this node, e.g. ofac-sdn or uif-lpb")],
    files: Annotated[list[UploadFile], File(description="The list's files as published")],
    list_format: Annotated[str, Form(alias="format", description="ofac, uif or ftm; empty: from the names")] = "",
    source: Annotated[str, Form(description="Where the files came from")] = "",
    rescreen: Annotated[bool, Form(description="Screen the stored records against the new version")] = True,
) -> dict[str, Any]:
    """Load a list (or its new version) from its files, checked whole: a file with any problem is refused with
    every problem and its line, and nothing is loaded. The same files again change nothing (200); a new version
    (201) reports the entries added, removed and changed and, re-screening the records, the new and removed hits.
    """
    node = node_of(request)
    given = [f for f in files if f.filename]
    if not given:
        raise ValidationError(INPUT_REFUSED, details=[problem("files", NO_LIST_FILES)], count=1)
    loaded = [
        list_service.ListFile(f.filename or "", await read_upload(f, node.settings.upload_max_bytes)) for f in given
    ]
    with node.db.transaction() as session:
        report = list_service.load_list(
            session,
            viewer.user,
            node.trail,
            name.strip(),
            *loaded,
            fmt=format_of(list_format),
            source=source.strip(),
            rescreen_records=rescreen,
        )
        lst = session.scalars(select(SanctionsList).where(SanctionsList.name == report.name)).one()
        response.status_code = 200 if report.unchanged else 201
        return {
            "list": list_view(lst, users_by_id(session, [lst.loaded_by_id])),
            "summary": report.summary(),
            "added": report.added,
            "removed": report.removed,
            "changed": report.changed,
            **{k: v for k, v in rescreen_view(session, report.rescreen).items() if k != "summary"},
        }
