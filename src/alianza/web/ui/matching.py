"""Matching pages: the analyst's review of duplicate candidates, and private hit/no-hit with the partner.

``/matching/candidates`` runs the resolver (``matching.resolution.candidates``, audited as a bulk view) over the
records the reader may see and shows each likely duplicate pair with the model's evidence: which comparison was
at which level, with what weight, and both records' values. An analyst confirms or rejects the pair with a
note (``resolution.decide``, audited, revisable); decided pairs stay listed with who decided and when.

``/matching/link`` takes an uploaded CSV of people or companies (a prosecutor's spreadsheet, a partner agency's
list) and links it against the node's records the reader may see (``resolution.link_file``: at most
``MAX_LINK_RECORDS`` rows, a file with any bad row refused whole with its lines, the run audited with the file's
name and counts): each row's match, its probability and what agreed and what did not.

``/matching/private`` sends an offer of our persons to a pinned partner (``hitnohit.send_offer``: only keyed
encodings leave, queued in the outbox in the same transaction), lists our offers and their hits, and turns a
hit into a formal request to the partner (``hitnohit.request_from_hit``: one per hit, linked to the hit and shown
with it). The listings and their need-to-know checks are ``hitnohit.listed_hits`` and ``hitnohit.list_offers``.
The offers this node answered for the partner are shown by count only: its subjects are never stored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi import UploadFile as FastAPIUploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from alianza.accounts.permissions import Permission, allowed, require
from alianza.errors import AlianzaError, ConflictError, NotFoundError, ValidationError
from alianza.federation.partners import list_partners
from alianza.i18n import Gettext, Lang, gettext_for
from alianza.matching import hitnohit, resolution
from alianza.matching.models import CONFIRMED, REJECTED, MatchDecision
from alianza.matching.private_models import RECEIVED, SENT
from alianza.records import service as records
from alianza.records.models import Record
from alianza.vocab import vocabulary
from alianza.web.api.cooperation import read_upload
from alianza.web.api.matching import RESOLVABLE, user_names
from alianza.web.context import Viewer, node_of
from alianza.web.ui.common import N_, Problem, ViewerDep, by_field, decimal, domain_problems, many, see_other, text
from alianza.web.ui.records import kind_label, marking_options, show

router = APIRouter()

#: The comparisons of the resolver (``matching.features``), as an analyst names them.
FEATURES: dict[str, str] = {
    "surnames": N_("Surnames"),
    "given_names": N_("Given names"),
    "org_name": N_("Company name"),
    "birth_date": N_("Date of birth"),
    "identifiers": N_("Identity documents (RFC, CURP, passport…)"),
    "country": N_("Nationality or country"),
    "address": N_("Street address"),
    "postcode": N_("Postal code"),
}

#: The levels a comparison can be at, from the most to the least alike; ``null``: one side does not say.
LEVELS: dict[str, str] = {
    "both_exact": N_("Both surnames identical"),
    "paternal_exact_maternal_fuzzy": N_("First surname identical, second spelt differently"),
    "paternal_exact_maternal_missing": N_("First surname identical, second missing on one side"),
    "both_fuzzy": N_("Both surnames alike but spelt differently"),
    "paternal_fuzzy_maternal_missing": N_("First surname alike, second missing on one side"),
    "maternal_exact_paternal_differs": N_("Second surname identical, first different"),
    "crossed": N_("The same surnames in the other order"),
    "paternal_exact_maternal_differs": N_("First surname identical, second different"),
    "all_exact": N_("All given names identical"),
    "all_fuzzy": N_("All given names alike, one spelt differently"),
    "first_ones_agree": N_("One side's given names are the other's first ones"),
    "hypocorism": N_("A nickname of the same name (Pepe, José)"),
    "first_fuzzy": N_("First given name alike but spelt differently"),
    "shared_in_other_position": N_("A given name shared in another position"),
    "initial": N_("Only the initials agree"),
    "exact": N_("Identical"),
    "jaro_winkler_95": N_("Nearly identical (95 % similar or more)"),
    "jaro_winkler_92": N_("Nearly identical (92 % similar or more)"),
    "jaro_winkler_88": N_("Similar (88 % similar or more)"),
    "jaro_winkler_80": N_("Similar (80 % similar or more)"),
    "day_month_swapped": N_("Day and month swapped"),
    "one_edit": N_("One character apart"),
    "two_of_three": N_("Two of year, month and day agree"),
    "year_only": N_("Only a year on one side, and it agrees"),
    "same_year": N_("Same year, other day"),
    "within_5_years": N_("Within five years"),
    "same": N_("The same"),
    "differ": N_("Different"),
    "null": N_("Not known on one side: no evidence either way"),
}

#: The blocking rules: why the pair was compared at all.
BLOCKING: dict[str, str] = {
    "name_keys": N_("Names that sound alike"),
    "birth_year_surname": N_("Birth year and a surname"),
    "birth_date": N_("The same date of birth"),
    "identifiers": N_("A shared identity document"),
    "postcode": N_("The same postal code"),
}

DECISIONS: dict[str, str] = {
    CONFIRMED: N_("Confirmed: the same entity"),
    REJECTED: N_("Rejected: different entities"),
}

OFFER_STATUSES: dict[str, str] = {
    "open": N_("Waiting for the partner's answer"),
    "answered": N_("Answered"),
    "refused": N_("Refused"),
}

MATCHING_LABELS: dict[str, str] = {
    "decision": N_("Decision"),
    "note": N_("Note"),
    "partner": N_("Partner node"),
    "record_ids": N_("Persons to offer"),
    "purpose": N_("Purpose"),
    "subject": N_("Subject"),
    "file": N_("File to link"),
    "schema": N_("Kind of record"),
    "threshold": N_("Threshold"),
}

#: The matches of a linked file shown on the page; the API and ``alianza match link --records`` give them all.
LINKS_SHOWN = 500


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


# ---------------------------------------------------------------------------------------------------- candidates


def _explanation(row: MatchDecision, gettext: Gettext) -> dict[str, Any]:
    """The model's evidence for a pair as table rows in the reader's language."""
    data: Mapping[str, Any] = row.explanation or {}
    features = []
    for feature in data.get("features") or []:
        name, level = str(feature.get("comparison", "")), str(feature.get("level", ""))
        weight = float(feature.get("weight") or 0.0)
        features.append(
            {
                "code": name,
                "label": gettext(FEATURES[name]) if name in FEATURES else name,
                "level": level,
                "level_label": gettext(LEVELS[level]) if level in LEVELS else level,
                "weight": _signed(weight),
                "direction": "for" if weight > 0 else "against" if weight < 0 else "none",
                "left": str(feature.get("left") or ""),
                "right": str(feature.get("right") or ""),
            }
        )
    rule = str(data.get("blocked_by", ""))
    return {
        "features": features,
        "blocked_by": gettext(BLOCKING[rule]) if rule in BLOCKING else rule,
        "prior_weight": _signed(float(data.get("prior_weight") or 0.0)),
        "weight": _signed(row.weight),
        "threshold": _percent(float(data.get("threshold") or resolution.DEFAULT_THRESHOLD)),
    }


def _pair(session: Session, viewer: Viewer, row: MatchDecision, deciders: Mapping[int, Any]) -> dict[str, Any]:
    gettext = gettext_for(viewer.lang)
    decider = deciders.get(row.decided_by_id) if row.decided_by_id is not None else None
    return {
        "row": row,
        "left": session.get(Record, row.left_record_id),
        "right": session.get(Record, row.right_record_id),
        "score": _percent(row.score),
        "explanation": _explanation(row, gettext),
        "decision_label": gettext(DECISIONS[row.decision]) if row.decision in DECISIONS else "",
        "decided_by": decider.display_name if decider is not None else "",
    }


def _candidates_page(
    request: Request,
    viewer: Viewer,
    schema: str,
    *,
    status_code: int = 200,
    decision_errors: Mapping[int, Mapping[str, list[str]]] | None = None,
    decision_notes: Mapping[int, str] | None = None,
) -> HTMLResponse:
    node = node_of(request)
    schema = schema if schema in RESOLVABLE else "Person"
    with node.db.transaction() as session:  # the run stores its candidates and is audited as a bulk view
        found = resolution.candidates(
            session, viewer.user, node.trail, schema=schema, settings=resolution.Settings.of_node(node.settings)
        )
        decided = [d for d in resolution.decided_pairs(session, viewer.user) if _schema_of(session, d) == schema]
        deciders = user_names(session, (d.decided_by_id for d in [*found, *decided]))
        return show(
            request,
            "matching/candidates.html",
            viewer,
            status_code=status_code,
            labels=MATCHING_LABELS,
            schema=schema,
            kinds=[(k, kind_label(k, viewer.lang)) for k in RESOLVABLE],
            pending=[_pair(session, viewer, r, deciders) for r in found if r.pending],
            decided=[_pair(session, viewer, d, deciders) for d in decided],
            found_count=len(found),
            algorithm=resolution.ALGORITHM,
            threshold=_percent(resolution.DEFAULT_THRESHOLD),
            decision_errors=decision_errors or {},
            decision_notes=decision_notes or {},
        )


def _schema_of(session: Session, row: MatchDecision) -> str:
    record = session.get(Record, row.left_record_id)
    return record.schema if record is not None else ""


@router.get("/matching", response_model=None)
def matching_home(viewer: ViewerDep) -> Response:
    """The menu entry: the candidates page is where matching starts."""
    return see_other("/matching/candidates")


@router.get("/matching/candidates", response_class=HTMLResponse)
def candidates_page(request: Request, viewer: ViewerDep, schema: str = "Person") -> HTMLResponse:
    return _candidates_page(request, viewer, schema)


@router.post("/matching/candidates/{pair_id:int}/decision", response_model=None)
async def decide(request: Request, viewer: ViewerDep, pair_id: int) -> Response:
    form = await request.form()
    decision, note, schema = text(form, "decision"), text(form, "note"), text(form, "schema")
    node = node_of(request)
    try:
        if decision not in ("confirm", "reject"):
            raise ValidationError("Choose whether to confirm or to reject the match.")
        with node.db.transaction() as session:
            resolution.decide(session, viewer.user, node.trail, pair_id, decision == "confirm", note)
    except ValidationError as exc:
        problems = [{**p, "field": p["field"] or "note"} for p in domain_problems(exc, viewer.lang)]
        return _candidates_page(
            request,
            viewer,
            schema,
            status_code=exc.http_status,
            decision_errors={pair_id: by_field(problems)},
            decision_notes={pair_id: note},
        )
    suffix = f"?schema={schema}" if schema in RESOLVABLE and schema != "Person" else ""
    return see_other(f"/matching/candidates{suffix}#pair-{pair_id}")


@router.get("/matching/candidates/{pair_id:int}/decision", response_model=None)
def decision_get(viewer: ViewerDep, pair_id: int) -> Response:
    """The language switch after a refused decision comes back here: show the candidates."""
    return see_other(f"/matching/candidates#pair-{pair_id}")


# ---------------------------------------------------------------------------------------------------- a file


def _features_text(items: Sequence[Mapping[str, str]], gettext: Gettext) -> list[str]:
    """``resolution.agreement``'s comparisons as the analyst reads them: "Surnames: Both surnames identical"."""
    shown = []
    for item in items:
        name, level = item["comparison"], item["level"]
        label = gettext(FEATURES[name]) if name in FEATURES else name
        shown.append(f"{label}: {gettext(LEVELS[level]) if level in LEVELS else level}")
    return shown


def _link_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, str] | None = None,
    linked: resolution.FileLink | None = None,
) -> HTMLResponse:
    require(viewer.user, Permission.READ_RECORDS)
    gettext = gettext_for(viewer.lang)
    matches = []
    if linked is not None:
        matches = [
            {
                "match": m,
                "probability": _percent(m.probability),
                "agreed": _features_text(m.agreed, gettext),
                "disagreed": _features_text(m.disagreed, gettext),
            }
            for m in linked.matches[:LINKS_SHOWN]
        ]
    return show(
        request,
        "matching/link.html",
        viewer,
        status_code=status_code,
        problems=problems,
        labels=MATCHING_LABELS,
        values=values or {"schema": "Person", "threshold": ""},
        kinds=[(k, kind_label(k, viewer.lang)) for k in RESOLVABLE],
        linked=linked,
        matches=matches,
        more=max(0, len(linked.matches) - LINKS_SHOWN) if linked is not None else 0,
        algorithm=resolution.ALGORITHM,
        threshold=_percent(resolution.DEFAULT_THRESHOLD),
        default_threshold=resolution.DEFAULT_THRESHOLD,
        max_rows=f"{resolution.MAX_LINK_RECORDS:,}".replace(",", " "),
        max_mib=round(node_of(request).settings.upload_max_bytes / 2**20, 1),
    )


def _file_problems(exc: AlianzaError, viewer: Viewer, field: str) -> list[Problem]:
    """A refused run's problems, each on the form's ``field`` and led by the file it is in (the line is in the
    message), so the summary links to the field and still says where each problem is."""
    problems: list[Problem] = []
    for p in domain_problems(exc, viewer.lang):
        where = p["field"]
        problems.append({"field": field, "message": f"{where}: {p['message']}" if where else p["message"]})
    return problems


@router.get("/matching/link", response_class=HTMLResponse)
def link_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _link_page(request, viewer)


@router.post("/matching/link", response_model=None)
async def link_file(request: Request, viewer: ViewerDep) -> Response:
    require(viewer.user, Permission.READ_RECORDS)
    form = await request.form()
    gettext = gettext_for(viewer.lang)
    node = node_of(request)
    values = {"schema": text(form, "schema") or "Person", "threshold": text(form, "threshold")}
    problems: list[Problem] = []
    if values["schema"] not in RESOLVABLE:
        problems.append({"field": "schema", "message": gettext("Choose one of the options.")})
    threshold = decimal(form, "threshold", problems, viewer.lang)
    upload = form.get("file")
    data = b""
    if not isinstance(upload, UploadFile) or not upload.filename:
        problems.append({"field": "file", "message": gettext("Choose a file to upload.")})
    else:
        try:
            # read_upload only reads from the upload; the form gives Starlette's class, which FastAPI's extends.
            data = await read_upload(cast(FastAPIUploadFile, upload), node.settings.upload_max_bytes)
        except ValidationError as exc:
            problems += _file_problems(exc, viewer, "file")
    if problems or not isinstance(upload, UploadFile):
        return _link_page(request, viewer, status_code=422, problems=problems, values=values)
    file_name = upload.filename or "file.csv"
    try:
        with node.db.transaction() as session:
            linked = resolution.link_file(
                session,
                viewer.user,
                node.trail,
                data,
                file_name,
                schema=values["schema"],
                threshold=threshold,
                settings=resolution.Settings.of_node(node.settings),
            )
    except ValidationError as exc:
        fallback = "threshold" if threshold is not None and not 0 < threshold < 1 else "file"
        problems = _file_problems(exc, viewer, fallback)
        return _link_page(request, viewer, status_code=exc.http_status, problems=problems, values=values)
    return _link_page(request, viewer, values=values, linked=linked)


# ---------------------------------------------------------------------------------------------------- hit/no-hit


def _offer_values(partners: Sequence[str]) -> dict[str, Any]:
    return {"partner": partners[0] if len(partners) == 1 else "", "record_ids": []}


def _private_page(
    request: Request,
    viewer: Viewer,
    *,
    status_code: int = 200,
    problems: Sequence[Problem] = (),
    values: Mapping[str, Any] | None = None,
    request_errors: Mapping[int, Mapping[str, list[str]]] | None = None,
    request_values: Mapping[int, Mapping[str, str]] | None = None,
) -> HTMLResponse:
    node = node_of(request)
    lang: Lang = viewer.lang
    gettext = gettext_for(lang)
    with node.db.transaction() as session:  # listing our persons to choose from is an audited bulk view
        may_offer = allowed(viewer.user, Permission.PROPOSE_RELEASE)  # the services check again on use
        persons: list[Record] = []
        if may_offer:
            persons = records.search_records(
                session, viewer.user, node.trail, records.RecordFilter(schema="Person", origin="local")
            )
        partners = [p.name for p in list_partners(session)]
        hits = [
            {"hit": h.hit, "record": h.record, "score": _percent(h.hit.score), "request": h.request}
            for h in hitnohit.listed_hits(session, viewer.user)
        ]
        return show(
            request,
            "matching/private.html",
            viewer,
            status_code=status_code,
            problems=problems,
            labels=MATCHING_LABELS,
            values=values or _offer_values(partners),
            may_offer=may_offer,
            persons=persons,
            partners=partners,
            sent=hitnohit.list_offers(session, viewer.user, SENT),
            received=hitnohit.list_offers(session, viewer.user, RECEIVED),
            offer_statuses={code: gettext(label) for code, label in OFFER_STATUSES.items()},
            hits=hits,
            purposes=marking_options("purposes", lang),
            request_errors=request_errors or {},
            request_values=request_values or {},
        )


@router.get("/matching/private", response_class=HTMLResponse)
def private_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    return _private_page(request, viewer)


@router.post("/matching/offers", response_model=None)
async def send_offer(request: Request, viewer: ViewerDep) -> Response:
    require(viewer.user, Permission.PROPOSE_RELEASE)
    form = await request.form()
    partner, record_ids = text(form, "partner"), many(form, "record_ids")
    values: dict[str, Any] = {"partner": partner, "record_ids": record_ids}
    gettext = gettext_for(viewer.lang)
    problems: list[Problem] = []
    if not partner:
        problems.append({"field": "partner", "message": gettext("Choose the partner node.")})
    if not record_ids:
        problems.append({"field": "record_ids", "message": gettext("Choose at least one person.")})
    if problems:
        return _private_page(request, viewer, status_code=422, problems=problems, values=values)
    node = node_of(request)
    try:
        with node.db.transaction() as session:
            hitnohit.send_offer(session, node, viewer.user, partner, record_ids)
    except NotFoundError as exc:  # the partner is not pinned (a record the viewer may not see is a detail)
        problems = [{**p, "field": p["field"] or "partner"} for p in domain_problems(exc, viewer.lang)]
        return _private_page(request, viewer, status_code=422, problems=problems, values=values)
    except ValidationError as exc:
        problems = [{**p, "field": p["field"] or "partner"} for p in domain_problems(exc, viewer.lang)]
        return _private_page(request, viewer, status_code=exc.http_status, problems=problems, values=values)
    return see_other("/matching/private#sent")


@router.post("/matching/hits/{hit_id:int}/request", response_model=None)
async def request_from_hit(request: Request, viewer: ViewerDep, hit_id: int) -> Response:
    require(viewer.user, Permission.PROPOSE_RELEASE)
    form = await request.form()
    values = {"purpose": text(form, "purpose"), "subject": text(form, "subject")}
    gettext = gettext_for(viewer.lang)
    problems: list[Problem] = []
    if not values["purpose"]:
        problems.append({"field": "purpose", "message": gettext("This field is required.")})
    elif values["purpose"] not in vocabulary().markings["purposes"]:
        problems.append({"field": "purpose", "message": gettext("Choose one of the options.")})
    if not values["subject"]:
        problems.append({"field": "subject", "message": gettext("This field is required.")})
    status_code = 422
    if not problems:
        node = node_of(request)
        try:
            with node.db.transaction() as session:
                hitnohit.request_from_hit(
                    session, node, viewer.user, hit_id, purpose=values["purpose"], subject=values["subject"]
                )
        except (ValidationError, ConflictError) as exc:  # a conflict: the hit already became a request
            fallback = "" if isinstance(exc, ConflictError) else "subject"
            problems = [{**p, "field": p["field"] or fallback} for p in domain_problems(exc, viewer.lang)]
            status_code = exc.http_status
        else:
            return see_other(f"/matching/private#hit-{hit_id}")
    return _private_page(
        request,
        viewer,
        status_code=status_code,
        request_errors={hit_id: by_field(problems)},
        request_values={hit_id: values},
    )


@router.get("/matching/offers", response_model=None)
@router.get("/matching/hits/{hit_id:int}/request", response_model=None)
def private_action_get(viewer: ViewerDep) -> Response:
    """The language switch after a refused form comes back here: show the hit/no-hit page."""
    return see_other("/matching/private")
