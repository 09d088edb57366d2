"""Screening pages: a name or a file of names screened against the sanctions lists, the review queue of the
hits, and the lists loaded on this node with the form that loads a new version.

``/screening`` screens one name as typed (with a birth date and a nationality when known) or an uploaded file of
names (``screening.screen``, audited); each hit shows its score and the algorithm's explanation: every feature
compared, at which level, the values compared and the points it added. ``/screening/hits`` is the review queue:
an analyst decides whether a hit is the listed person (``match``) or someone else (``false_positive``), with a
note (``screening.decide_hit``, audited, revisable). ``/screening/lists`` shows each list's version and loads a
new one from its published files (``lists.load_list``, which needs ``edit_records`` and checks every line; the
stored records are then screened again and the new and removed hits are reported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi import UploadFile as FastAPIUploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.errors import AlianzaError, NotFoundError, ValidationError, render_problem
from alianza.i18n import Gettext, Lang, gettext_for
from alianza.matching import lists as list_service
from alianza.matching import screening
from alianza.matching.screening import FALSE_POSITIVE, MATCH, Subject, SubjectResult
from alianza.matching.screening_models import SanctionsList, ScreeningHit
from alianza.web.api.cooperation import read_upload
from alianza.web.api.screening import format_of, list_names, typed_subject, users_by_id
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import N_, Problem, ViewerDep, by_field, decimal, domain_problems, see_other, text
from alianza.web.ui.records import show

router = APIRouter()

#: The features of alianza-screen-v1 (``screening.Feature.name``), as an analyst names them.
FEATURES: dict[str, str] = {
    "paternal_surname": N_("First surname"),
    "maternal_surname": N_("Second surname"),
    "given_name": N_("Given name"),
    "other_given_names": N_("Other given names"),
    "nickname": N_("Nickname (alias)"),
    "unmatched_word": N_("Word not on the list"),
    "token_set": N_("Whole names alike"),
    "org_name": N_("Organisation name"),
    "birth_date": N_("Date of birth"),
    "nationality": N_("Nationality"),
    "identifier": N_("Identity document (RFC, CURP, passport…)"),
}

#: The levels a feature can be at.
LEVELS: dict[str, str] = {
    "exact": N_("Identical"),
    "phonetic": N_("Sounds the same"),
    "fuzzy": N_("Spelt slightly differently"),
    "near_surname": N_("A similar surname"),
    "swapped": N_("The two surnames in the other order"),
    "missing": N_("Not in the name screened"),
    "differs": N_("Different"),
    "dropped": N_("Left out of the name screened"),
    "not_on_list": N_("The list does not give it"),
    "hypocorism": N_("A familiar form of the same name (Chuy, Jesús)"),
    "nickname": N_("The nickname instead of the given name"),
    "initial": N_("Only the initial agrees"),
    "first_differs": N_("A different first given name"),
    "left_out": N_("Left out of the name screened"),
    "first_left_out": N_("The entry's first given name left out"),
    "unknown_nickname": N_("A nickname the list does not give"),
    "day_month_swapped": N_("Day and month swapped"),
    "same_year": N_("Same year, day or month not known"),
    "near_year": N_("A year apart, or another day of the same year"),
    "same": N_("The same"),
}

#: Where one feature's level reads better in words of its own.
LEVEL_OVERRIDES: dict[tuple[str, str], str] = {
    ("maternal_surname", "not_on_list"): N_("The entry has no second surname; the name screened has one"),
    ("unmatched_word", "not_on_list"): N_("A word of the name screened found nowhere on the entry"),
}

DECISIONS: dict[str, str] = {
    MATCH: N_("Match: the listed person or organisation"),
    FALSE_POSITIVE: N_("False positive: someone else"),
}

FORMATS: tuple[tuple[str, str], ...] = (
    ("", N_("Tell from the file names")),
    ("ofac", N_("OFAC: sdn.csv with alt.csv and add.csv (legacy CSV)")),
    ("uif", N_("UIF: Lista de Personas Bloqueadas (CSV)")),
    ("ftm", N_("FollowTheMoney entities (JSON lines)")),
)

SCREENING_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "birth_date": N_("Date of birth"),
    "nationality": N_("Nationality"),
    "identifier": N_("Identity document"),
    "list": N_("List"),
    "threshold": N_("Threshold"),
    "file": N_("File of names"),
    "files": N_("The list's files"),
    "format": N_("Format"),
    "source": N_("Source"),
    "decision": N_("Decision"),
    "note": N_("Note"),
}

SUBJECTS_SHOWN = 200
DECIDED_SHOWN = 100


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


# ---------------------------------------------------------------------------------------------------- views


def level_label(feature: str, level: str, gettext: Gettext) -> str:
    """A feature's level in the reader's language; a similarity ("0.93") is shown as a percentage."""
    if (feature, level) in LEVEL_OVERRIDES:
        return gettext(LEVEL_OVERRIDES[(feature, level)])
    if level in LEVELS:
        return gettext(LEVELS[level])
    try:
        similarity = float(level)
    except ValueError:
        return level
    return gettext("{percent} alike").format(percent=f"{similarity * 100:.0f} %")


def explanation_view(data: Mapping[str, Any], gettext: Gettext) -> dict[str, Any]:
    """A stored hit's explanation as table rows in the reader's language."""
    rows = []
    for feature in data.get("features") or []:
        name, level = str(feature.get("feature", "")), str(feature.get("level", ""))
        points = float(feature.get("points") or 0.0)
        rows.append(
            {
                "code": name,
                "label": gettext(FEATURES[name]) if name in FEATURES else name,
                "level": level,
                "level_label": level_label(name, level, gettext),
                "query": str(feature.get("query") or ""),
                "entry": str(feature.get("entry") or ""),
                "points": _signed(points),
                "direction": "for" if points > 0 else "against" if points < 0 else "none",
            }
        )
    entry = data.get("entry") or {}
    return {
        "features": rows,
        "algorithm": str(data.get("algorithm") or screening.ALGORITHM),
        "prior": _signed(float(data.get("prior") or screening.PRIOR)),
        "points": _signed(float(data.get("points") or 0.0)),
        "threshold": _percent(float(data.get("threshold") or screening.DEFAULT_THRESHOLD)),
        "query": str(data.get("query") or ""),
        "matched_name": str(data.get("matched_name") or ""),
        "programs": [str(p) for p in entry.get("programs") or []],
    }


def hit_item(
    row: ScreeningHit, names: Mapping[int, str], users: Mapping[int, User], gettext: Gettext
) -> dict[str, Any]:
    decider = users.get(row.decided_by_id) if row.decided_by_id is not None else None
    return {
        "row": row,
        "list": names.get(row.list_id, ""),
        "score": _percent(row.score),
        "bar": round(row.score * 100),
        "explanation": explanation_view(row.explanation or {}, gettext),
        "decision_label": gettext(DECISIONS[row.decision]) if row.decision in DECISIONS else "",
        "decided_by": decider.display_name if decider is not None else "",
    }


def hit_items(session: Session, rows: Sequence[ScreeningHit], gettext: Gettext) -> list[dict[str, Any]]:
    names = list_names(session)
    users = users_by_id(session, (r.decided_by_id for r in rows))
    return [hit_item(r, names, users, gettext) for r in rows]


def _lists(session: Session) -> list[dict[str, Any]]:
    rows = list(session.scalars(select(SanctionsList).order_by(SanctionsList.name)))
    users = users_by_id(session, (r.loaded_by_id for r in rows))
    return [
        {
            "row": r,
            "version": r.version[:12],
            "loaded_by": users[r.loaded_by_id].display_name if r.loaded_by_id in users else "—",
        }
        for r in rows
    ]


def _screen_options(session: Session) -> list[tuple[str, str]]:
    return [(lst.name, lst.name) for lst in session.scalars(select(SanctionsList).order_by(SanctionsList.name))]


def _file_problems(exc: AlianzaError, viewer: Viewer, field: str) -> list[Problem]:
    """A refused file's problems, each on the form's file field and led by the file it is in (with the line in
    the message), so the summary links to the field and still says where each problem is."""
    problems = []
    for p in domain_problems(exc, viewer.lang):
        where = p["field"]
        problems.append({"field": field, "message": f"{where}: {p['message']}" if where else p["message"]})
    return problems


# ---------------------------------------------------------------------------------------------------- screen


def _screen_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, str] | None = None,
    mode: str = "name",
    results: Sequence[SubjectResult] | None = None,
    file_name: str = "",
) -> HTMLResponse:
    require(viewer.user, Permission.READ_RECORDS)
    gettext = gettext_for(viewer.lang)
    with node_of(request).db.reading() as session:
        shown: list[dict[str, Any]] = []
        screened = with_hits = 0
        if results is not None:
            screened = len(results)
            found = [r for r in results if r.rows]
            with_hits = len(found)
            rows = [row for r in found[:SUBJECTS_SHOWN] for row in r.rows]
            names = list_names(session)
            users = users_by_id(session, (row.decided_by_id for row in rows))
            shown = [
                {"subject": r.subject, "hits": [hit_item(row, names, users, gettext) for row in r.rows]}
                for r in found[:SUBJECTS_SHOWN]
            ]
        return show(
            request,
            "screening/screen.html",
            viewer,
            status_code=status_code,
            problems=problems,
            labels=SCREENING_LABELS,
            values=values or {},
            mode=mode,
            lists=_lists(session),
            list_options=_screen_options(session),
            algorithm=screening.ALGORITHM,
            default_threshold=screening.DEFAULT_THRESHOLD,
            threshold=_percent(screening.DEFAULT_THRESHOLD),
            results=shown,
            searched=results is not None,
            screened=screened,
            with_hits=with_hits,
            more=max(0, with_hits - SUBJECTS_SHOWN),
            file_name=file_name,
        )


def _threshold(form: FormData, problems: list[Problem], lang: Lang) -> float | None:
    value = decimal(form, "threshold", problems, lang)
    if value is not None and not 0 < value <= 1:
        message = gettext_for(lang)("The threshold is a score between 0 and 1; {value} is not.").format(
            value=text(form, "threshold").replace(",", ".")
        )
        problems.append({"field": "threshold", "message": message})
        return None
    return value


@router.get("/screening", response_class=HTMLResponse)
def screen_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _screen_page(request, viewer)


@router.post("/screening", response_model=None)
async def screen_post(request: Request, viewer: ViewerDep) -> Response:
    require(viewer.user, Permission.READ_RECORDS)
    form = await request.form()
    gettext = gettext_for(viewer.lang)
    node = node_of(request)
    mode = "file" if text(form, "mode") == "file" else "name"
    values = {key: text(form, key) for key in ("name", "birth_date", "nationality", "identifier", "list", "threshold")}
    problems: list[Problem] = []
    threshold = _threshold(form, problems, viewer.lang)
    chosen = [values["list"]] if values["list"] else None
    subjects: list[Subject] = []
    file_name = ""
    if mode == "name":
        if not values["name"]:
            problems.append({"field": "name", "message": gettext("This field is required.")})
        found: list[dict[str, Any]] = []
        identifiers = [values["identifier"]] if values["identifier"] else []
        subject = typed_subject(
            values["name"], values["birth_date"], values["nationality"], identifiers, problems=found
        )
        problems += [{"field": str(p["field"]), "message": render_problem(p, gettext)} for p in found]
        subjects = [subject]
    else:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            problems.append({"field": "file", "message": gettext("Choose a file to upload.")})
        else:
            file_name = upload.filename
            try:
                # read_upload only reads from the upload; the form gives Starlette's class, which FastAPI's extends.
                data = await read_upload(cast(FastAPIUploadFile, upload), node.settings.upload_max_bytes)
                subjects = screening.read_subjects(data, upload.filename)
            except ValidationError as exc:
                problems += _file_problems(exc, viewer, "file")
    if problems:
        return _screen_page(request, viewer, status_code=422, problems=problems, values=values, mode=mode)
    try:
        with node.db.transaction() as session:
            # The stored hits stay readable once the transaction is over (the sessions do not expire on commit).
            results = screening.screen(session, viewer.user, node.trail, subjects, lists=chosen, threshold=threshold)
    except NotFoundError as exc:  # no list loaded, or the list chosen is gone
        problems = [{**p, "field": p["field"] or "list"} for p in domain_problems(exc, viewer.lang)]
        return _screen_page(request, viewer, status_code=422, problems=problems, values=values, mode=mode)
    except ValidationError as exc:
        problems = [{**p, "field": p["field"] or "name"} for p in domain_problems(exc, viewer.lang)]
        return _screen_page(request, viewer, status_code=exc.http_status, problems=problems, values=values, mode=mode)
    return _screen_page(request, viewer, values=values, mode=mode, results=results, file_name=file_name)


# ---------------------------------------------------------------------------------------------------- review queue


def _hits_page(
    request: Request,
    viewer: Viewer,
    list_name: str,
    *,
    status_code: int = 200,
    decision_errors: Mapping[int, Mapping[str, list[str]]] | None = None,
    decision_notes: Mapping[int, str] | None = None,
) -> HTMLResponse:
    gettext = gettext_for(viewer.lang)
    with node_of(request).db.reading() as session:
        options = _screen_options(session)
        chosen = list_name if list_name in {name for name, _ in options} else None
        pending = screening.list_hits(session, viewer.user, list_name=chosen, pending_only=True)
        decided = [h for h in screening.list_hits(session, viewer.user, list_name=chosen) if h.decision is not None][
            :DECIDED_SHOWN
        ]
        return show(
            request,
            "screening/hits.html",
            viewer,
            status_code=status_code,
            labels=SCREENING_LABELS,
            list_name=chosen or "",
            list_options=options,
            pending=hit_items(session, pending, gettext),
            decided=hit_items(session, decided, gettext),
            decision_errors=decision_errors or {},
            decision_notes=decision_notes or {},
        )


@router.get("/screening/hits", response_class=HTMLResponse)
def hits_page(request: Request, viewer: ViewerDep, list_name: str = "") -> HTMLResponse:
    return _hits_page(request, viewer, list_name)


@router.post("/screening/hits/{hit_id:int}/decision", response_model=None)
async def decide(request: Request, viewer: ViewerDep, hit_id: int) -> Response:
    form = await request.form()
    decision, note, list_name = text(form, "decision"), text(form, "note"), text(form, "list_name")
    node = node_of(request)
    try:
        if decision not in DECISIONS:
            raise ValidationError("Choose whether the hit is a match or a false positive.")
        with node.db.transaction() as session:
            screening.decide_hit(session, viewer.user, node.trail, hit_id, decision, note)
    except ValidationError as exc:
        fallback = "note" if decision in DECISIONS else "decision"
        problems = [{**p, "field": p["field"] or fallback} for p in domain_problems(exc, viewer.lang)]
        return _hits_page(
            request,
            viewer,
            list_name,
            status_code=exc.http_status,
            decision_errors={hit_id: by_field(problems)},
            decision_notes={hit_id: note},
        )
    suffix = f"?list_name={quote(list_name, safe='')}" if list_name else ""
    return see_other(f"/screening/hits{suffix}#hit-{hit_id}")


@router.get("/screening/hits/{hit_id:int}/decision", response_model=None)
def decision_get(viewer: ViewerDep, hit_id: int) -> Response:
    """The language switch after a refused decision comes back here: show the review queue."""
    return see_other(f"/screening/hits#hit-{hit_id}")


# ---------------------------------------------------------------------------------------------------- lists


def _report_view(session: Session, report: list_service.LoadReport, gettext: Gettext) -> dict[str, Any]:
    rescreen = report.rescreen
    return {
        "name": report.name,
        "format": report.format,
        "version": report.version[:12],
        "previous_version": report.previous_version[:12] if report.previous_version else "",
        "entries": report.entries,
        "added": report.added,
        "removed": report.removed,
        "changed": report.changed,
        "skipped": report.skipped,
        "unchanged": report.unchanged,
        "rescreened": rescreen is not None,
        "screened": rescreen.screened if rescreen else 0,
        "names": rescreen.names if rescreen else 0,
        "kept": len(rescreen.kept) if rescreen else 0,
        "new_hits": hit_items(session, rescreen.new, gettext) if rescreen else [],
        "removed_hits": hit_items(session, rescreen.removed, gettext) if rescreen else [],
    }


def _lists_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, str] | None = None,
    report: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    require(viewer.user, Permission.READ_RECORDS)
    gettext = gettext_for(viewer.lang)
    with node_of(request).db.reading() as session:
        return show(
            request,
            "screening/lists.html",
            viewer,
            status_code=status_code,
            problems=problems,
            labels=SCREENING_LABELS,
            lists=_lists(session),
            formats=[(code, gettext(label)) for code, label in FORMATS],
            values=values or {"format": "", "name": "", "source": ""},
            report=report,
            max_mib=round(node_of(request).settings.upload_max_bytes / 2**20, 1),
        )


@router.get("/screening/lists", response_class=HTMLResponse)
def lists_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _lists_page(request, viewer)


@router.post("/screening/lists", response_model=None)
async def load(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    gettext = gettext_for(viewer.lang)
    node = node_of(request)
    values = {key: text(form, key) for key in ("name", "format", "source")}
    uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile) and u.filename]
    problems: list[Problem] = []
    if not values["name"]:
        problems.append({"field": "name", "message": gettext("This field is required.")})
    if not uploads:
        problems.append({"field": "files", "message": gettext("Choose the list's files.")})
    if problems:
        return _lists_page(request, viewer, status_code=422, problems=problems, values=values)
    try:
        files = [
            list_service.ListFile(
                u.filename or "", await read_upload(cast(FastAPIUploadFile, u), node.settings.upload_max_bytes)
            )
            for u in uploads
        ]
        with node.db.transaction() as session:
            report = list_service.load_list(
                session,
                viewer.user,
                node.trail,
                values["name"],
                *files,
                fmt=format_of(values["format"]),
                source=values["source"],
                rescreen_records=True,
            )
            shown = _report_view(session, report, gettext)
    except ValidationError as exc:
        fallback = "files"
        if not list_service.NAME_PATTERN.match(values["name"]):
            fallback = "name"
        elif len(values["source"]) > 200:
            fallback = "source"
        return _lists_page(
            request,
            viewer,
            status_code=exc.http_status,
            problems=_file_problems(exc, viewer, fallback),
            values=values,
        )
    return _lists_page(request, viewer, values={"format": values["format"], "name": "", "source": ""}, report=shown)
