"""Record pages: the search, a record with its markings and links, the create and edit forms, the purge.

Also the helpers the other sharing pages (releases, requests, policies, audit) use: labels for the markings
and the FtM kinds and properties in the reader's language, and ``show``, which renders a page with them.
The pages stay thin: the record services apply the node's ingest rules, need-to-know and the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from followthemoney.util import get_locale, set_model_locale
from pydantic import ValidationError as InputError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from alianza.accounts.permissions import Permission, require
from alianza.errors import ConflictError, PermissionDeniedError, ValidationError, render_problem
from alianza.i18n import Lang, gettext_for
from alianza.records import service as records
from alianza.records.ftm import KINDS, model
from alianza.records.models import Record
from alianza.records.schemas import RecordInput, RecordPatch
from alianza.releases import service as releases
from alianza.vocab import vocabulary
from alianza.web.context import Viewer, node_of
from alianza.web.templating import render
from alianza.web.ui.common import (
    FIELD_LABELS,
    N_,
    Problem,
    ViewerDep,
    by_field,
    can,
    choices,
    domain_problems,
    input_problems,
    many,
    optional,
    see_other,
    show_value,
    text,
    ticked,
)

router = APIRouter()

PROPS = "properties."
MARKS = "markings."
EXTRA_ROWS = 3
TLPS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")

SHARING_LABELS: dict[str, str] = {
    "schema": N_("Kind of record"),
    "id": N_("Record id"),
    "properties": N_("Properties"),
    "markings.origin_agency": N_("Originating agency"),
    "markings.tlp": N_("Traffic Light Protocol (TLP)"),
    "markings.handling": N_("Handling code"),
    "markings.source_reliability": N_("Source reliability"),
    "markings.info_accuracy": N_("Information accuracy"),
    "markings.legal_basis": N_("Legal basis of collection"),
    "markings.purpose": N_("Purpose of collection"),
    "markings.criminal_predicate": N_("Criminal predicate"),
    "markings.sensitive_categories": N_("Political, religious or social information"),
    "markings.sensitive_tied_to_crime": N_("It relates directly to criminal conduct"),
    "markings.personal_data": N_("Personal data"),
    "markings.us_person": N_("US person"),
    "markings.retention_review": N_("Retention review date"),
    "reason": N_("Reason"),
    "record_ids": N_("Records"),
    "recipient_node": N_("Recipient node"),
    "recipient_agency": N_("Recipient agency"),
    "recipient_organisation": N_("Recipient organisation"),
    "purpose": N_("Purpose"),
    "legal_basis": N_("Legal ground of the release"),
    "fields": N_("Fields to release"),
    "justification": N_("Justification"),
    "authorisation_record": N_("Authorisation record"),
    "partner": N_("Partner node"),
    "requesting_agency": N_("Requesting agency"),
    "subject": N_("Subject"),
    "reference": N_("Reference"),
}

SENSITIVE = {"political": N_("Political"), "religious": N_("Religious"), "social": N_("Social")}

TYPE_HINTS = {
    "date": N_("A date as YYYY-MM-DD (YYYY-MM or YYYY if only that is known)."),
    "entity": N_("The id of another record, as shown on its page."),
    "country": N_("A two-letter country code, for example mx or us."),
    "number": N_("A number."),
    "identifier": N_("As written on the document or in the register."),
}

ORIGINS = {"local": N_("Created on this node"), "partner": N_("Received from the partner")}


# ---------------------------------------------------------------------------------------------------- labels


@cache
def _ftm_labels(locale: str, schema_name: str) -> tuple[str, dict[str, str]]:
    """FtM's own label of a kind and of its properties in ``locale`` (FtM ships Spanish for its schemata).

    FtM translates through a thread-local locale; it is switched only for this one read and put back.
    """
    previous = get_locale()
    set_model_locale(Locale.parse(locale))
    try:
        schema = model().get(schema_name)
        if schema is None:
            return schema_name, {}
        return str(schema.label), {name: str(p.label) for name, p in schema.properties.items()}
    finally:
        set_model_locale(previous)


def _localised(english: str, ftm: str, lang: Lang) -> str:
    """Our catalog first (it covers our own kinds and FtM's gaps), then FtM's translation, then English."""
    if lang == "en":
        return english
    ours = gettext_for(lang)(english)
    return ours if ours != english else ftm


def kind_label(schema_name: str, lang: Lang) -> str:
    return _localised(_ftm_labels("en", schema_name)[0], _ftm_labels(lang, schema_name)[0], lang)


def property_label(schema_name: str, name: str, lang: Lang) -> str:
    english = _ftm_labels("en", schema_name)[1].get(name, name)
    return _localised(english, _ftm_labels(lang, schema_name)[1].get(name, english), lang)


def marking_text(group: str, code: str | None, lang: Lang) -> str:
    """A marking code as its bilingual vocabulary label; an unknown code is shown as itself."""
    if not code:
        return "—"
    term = vocabulary().markings[group].get(code)
    return term.text(lang) if term is not None else code


def marking_options(group: str, lang: Lang, country: str | None = None) -> list[tuple[str, str]]:
    """A marking vocabulary as (code, label) options, limited to one country's terms when they have one."""
    return [
        (code, term.text(lang))
        for code, term in vocabulary().markings[group].items()
        if country is None or term.country == country
    ]


def agency_options(country: str, lang: Lang) -> list[tuple[str, str]]:
    return [(a.code, f"{a.abbreviation} — {a.text(lang)}") for a in vocabulary().agencies_of(country)]


def other_country(country: str) -> str:
    return "US" if country == "MX" else "MX"


def partner_node(country: str) -> str:
    """The default name of the partner's node: the US node for a Mexican node and the other way round."""
    return "us-node" if country == "MX" else "mx-node"


def show(
    request: Request,
    template: str,
    viewer: Viewer,
    *,
    status_code: int = 200,
    problems: Sequence[Mapping[str, str]] = (),
    labels: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a sharing page with the helpers its templates use (the common ones plus the markings' labels)."""
    lang = viewer.lang
    return render(
        request,
        template,
        viewer,
        status_code=status_code,
        problems=list(problems),
        errors=by_field(problems),
        field_labels={**FIELD_LABELS, **SHARING_LABELS, **(labels or {})},
        show_value=show_value,
        can=can,
        choices=choices(lang, node_of(request).settings.country),
        kind_label=lambda schema: kind_label(schema, lang),
        prop_label=lambda schema, name: property_label(schema, name, lang),
        marking=lambda group, code: marking_text(group, code, lang),
        **context,
    )


def visible_records(session: Session, viewer: Viewer, request: Request) -> list[Record]:
    """The records the viewer may choose from (a release, a request): an audited bulk view, like the search."""
    node = node_of(request)
    return records.search_records(session, viewer.user, node.trail, records.RecordFilter())


# ---------------------------------------------------------------------------------------------------- list


@router.get("/records", response_class=HTMLResponse)
def list_page(
    request: Request,
    viewer: ViewerDep,
    schema: str = "",
    q: str = "",
    tlp: str = "",
    origin: str = "",
    agency: str = "",
) -> HTMLResponse:
    filters = {
        "schema": schema if schema in KINDS else "",
        "q": q.strip(),
        "tlp": tlp if tlp in TLPS else "",
        "origin": origin if origin in ORIGINS else "",
        "agency": agency if agency in vocabulary().agencies else "",
    }
    flt = records.RecordFilter(
        schema=filters["schema"] or None,
        text=filters["q"] or None,
        tlp=filters["tlp"] or None,
        origin=filters["origin"] or None,
        agency=filters["agency"] or None,
    )
    node = node_of(request)
    with node.db.transaction() as session:  # the search is audited as a bulk view
        items = records.search_records(session, viewer.user, node.trail, flt)
        return show(
            request,
            "records/list.html",
            viewer,
            items=items,
            filters=filters,
            filtered=any(filters.values()),
            kinds=[(k, kind_label(k, viewer.lang)) for k in KINDS],
            tlps=marking_options("tlp", viewer.lang),
            origins=[(k, gettext_for(viewer.lang)(v)) for k, v in ORIGINS.items()],
        )


# ---------------------------------------------------------------------------------------------------- form


def _shown_properties(schema_name: str) -> list[str]:
    """The properties the form always offers: FtM's featured ones and the required ones, in that order."""
    schema = model().get(schema_name)
    if schema is None:
        return []
    return list(dict.fromkeys([*schema.featured, *sorted(schema.required)]))


def _writable(schema_name: str) -> list[str]:
    schema = model().get(schema_name)
    if schema is None:
        return []
    return [name for name, p in schema.properties.items() if not (p.stub or p.hidden or p.deprecated)]


def _property_fields(schema_name: str, values: Mapping[str, list[str]], lang: Lang) -> list[dict[str, Any]]:
    """One entry per property to show: the featured and required ones, then any other that has values."""
    schema = model().get(schema_name)
    if schema is None:
        return []
    shown = _shown_properties(schema_name)
    others = sorted((n for n in values if n not in shown), key=lambda n: property_label(schema_name, n, lang))
    gettext = gettext_for(lang)
    fields = []
    for name in [*shown, *others]:
        prop = schema.get(name)
        kind = prop.type.name if prop is not None else "string"
        hint = TYPE_HINTS.get(kind)
        fields.append(
            {
                "name": name,
                "key": PROPS + name,
                "label": property_label(schema_name, name, lang),
                "type": kind,
                "hint": gettext(hint) if hint else "",
                "values": list(values.get(name) or [""]),
                "required": name in schema.required,
            }
        )
    return fields


def _extra_options(schema_name: str, lang: Lang) -> list[tuple[str, str]]:
    shown = set(_shown_properties(schema_name))
    options = [(n, property_label(schema_name, n, lang)) for n in _writable(schema_name) if n not in shown]
    return sorted(options, key=lambda o: o[1].casefold())


def _read_properties(form: FormData) -> dict[str, list[str]]:
    """The labelled property inputs (``properties.<name>``, one per value) and the "add a property" rows."""
    found: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key.startswith(PROPS) and isinstance(value, str) and value.strip():
            found.setdefault(key[len(PROPS) :], []).append(value.strip())
    names, values = form.getlist("extra_name"), form.getlist("extra_value")
    for name, value in zip(names, values, strict=False):
        if isinstance(name, str) and isinstance(value, str) and name.strip() and value.strip():
            found.setdefault(name.strip(), []).append(value.strip())
    return found


MARKING_FIELDS = (
    "origin_agency",
    "tlp",
    "handling",
    "source_reliability",
    "info_accuracy",
    "legal_basis",
    "purpose",
    "criminal_predicate",
    "retention_review",
    "personal_data",
)


def _read_markings(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, MARKS + name) for name in MARKING_FIELDS}
    values["sensitive_categories"] = many(form, MARKS + "sensitive_categories")
    values["sensitive_tied_to_crime"] = ticked(form, MARKS + "sensitive_tied_to_crime")
    values["us_person"] = ticked(form, MARKS + "us_person")
    return values


def _markings_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as the Markings schema's input: empty optional choices are left out so defaults apply."""
    raw = dict(values)
    for name in ("tlp", "handling", "source_reliability", "info_accuracy", "retention_review"):
        if not raw[name]:
            raw.pop(name)
    personal = raw.pop("personal_data")
    if personal in ("yes", "no"):
        raw["personal_data"] = personal == "yes"
    return raw


def _default_markings(viewer: Viewer, country: str) -> dict[str, Any]:
    own = {a.code for a in vocabulary().agencies_of(country)}
    return {
        "origin_agency": viewer.user.agency if viewer.user.agency in own else "",
        "tlp": "AMBER",
        "handling": "H0",
        "source_reliability": "B",
        "info_accuracy": "2",
        "legal_basis": "",
        "purpose": "",
        "criminal_predicate": "",
        "retention_review": "",
        "personal_data": "",
        "sensitive_categories": [],
        "sensitive_tied_to_crime": False,
        "us_person": False,
    }


def _saved_markings(record: Record) -> dict[str, Any]:
    m = records.markings_of(record)
    return {
        "origin_agency": m.origin_agency,
        "tlp": m.tlp,
        "handling": m.handling,
        "source_reliability": m.source_reliability,
        "info_accuracy": m.info_accuracy,
        "legal_basis": m.legal_basis,
        "purpose": m.purpose,
        "criminal_predicate": m.criminal_predicate,
        "retention_review": m.retention_review.isoformat() if m.retention_review else "",
        "personal_data": "yes" if m.personal_data else "no",
        "sensitive_categories": list(m.sensitive_categories),
        "sensitive_tied_to_crime": m.sensitive_tied_to_crime,
        "us_person": m.us_person,
    }


def _form(
    request: Request,
    viewer: Viewer,
    *,
    mode: str,
    schema_name: str,
    properties: Mapping[str, list[str]],
    markings: Mapping[str, Any],
    problems: Sequence[Problem] = (),
    status_code: int = 200,
    record: Record | None = None,
    version: str = "",
    conflict: str = "",
) -> HTMLResponse:
    lang = viewer.lang
    country = node_of(request).settings.country
    gettext = gettext_for(lang)
    fields = _property_fields(schema_name, properties, lang) if schema_name else []
    return show(
        request,
        "records/form.html",
        viewer,
        status_code=status_code,
        problems=problems,
        labels={f["key"]: f["label"] for f in fields},
        mode=mode,
        schema_name=schema_name,
        kinds=[(k, kind_label(k, lang)) for k in KINDS],
        prop_fields=fields,
        extra_options=_extra_options(schema_name, lang) if schema_name else [],
        extra_rows=EXTRA_ROWS,
        markings=markings,
        record=record,
        version=version,
        conflict=conflict,
        country=country,
        agencies=agency_options(country, lang),
        options={
            group: marking_options(group, lang) for group in ("tlp", "handling", "reliability", "accuracy", "purposes")
        },
        legal_bases=marking_options("legal_bases", lang, country),
        sensitive=[(k, gettext(v)) for k, v in SENSITIVE.items()],
        action="/records" if mode == "new" else f"/records/{record.id if record else ''}/edit",
    )


def _property_problems(
    request: Request, schema_name: str, properties: Mapping[str, list[str]], lang: Lang
) -> list[Problem]:
    """When the markings are refused before the service runs, the service's own property checks are run as well,
    so that every problem of the form is shown at once."""
    if schema_name not in KINDS:
        return []
    found: list[dict[str, Any]] = []
    values: dict[str, list[str] | str] = {name: list(v) for name, v in properties.items()}
    with node_of(request).db.reading() as session:
        records.clean_properties(session, schema_name, values, found)
    gettext = gettext_for(lang)
    return [{"field": str(p.get("field") or ""), "message": render_problem(p, gettext)} for p in found]


@router.get("/records/new", response_class=HTMLResponse)
def new_page(request: Request, viewer: ViewerDep, schema: str = "") -> HTMLResponse:
    require(viewer.user, Permission.EDIT_RECORDS)  # do not offer a form the service would refuse
    country = node_of(request).settings.country
    return _form(
        request,
        viewer,
        mode="new",
        schema_name=schema if schema in KINDS else "",
        properties={},
        markings=_default_markings(viewer, country),
    )


@router.post("/records", response_model=None)
async def create(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    schema_name = text(form, "schema")
    properties = _read_properties(form)
    markings = _read_markings(form)
    node = node_of(request)

    def again(problems: Sequence[Problem], status_code: int) -> HTMLResponse:
        return _form(
            request,
            viewer,
            mode="new",
            schema_name=schema_name if schema_name in KINDS else "",
            properties=properties,
            markings=markings,
            problems=problems,
            status_code=status_code,
        )

    try:
        data = RecordInput.model_validate(
            {"schema": schema_name, "properties": properties, "markings": _markings_input(markings)}
        )
    except InputError as exc:
        problems = input_problems(exc, viewer.lang) + _property_problems(request, schema_name, properties, viewer.lang)
        return again(problems, 422)
    try:
        with node.db.transaction() as session:
            record_id = records.create_record(session, viewer.user, node.trail, node.settings.country, data).id
    except ValidationError as exc:
        return again(domain_problems(exc, viewer.lang), exc.http_status)
    return see_other(f"/records/{record_id}")


# ---------------------------------------------------------------------------------------------------- detail


def _detail(request: Request, viewer: Viewer, record_id: str, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    lang = viewer.lang
    with node_of(request).db.reading() as session:
        record = records.get_record(session, viewer.user, record_id)
        linked = records.links(session, viewer.user, record)
        shown = _shown_properties(record.schema)
        names = sorted(
            record.properties,
            key=lambda n: (n not in shown, shown.index(n) if n in shown else 0, property_label(record.schema, n, lang)),
        )
        schema = model().get(record.schema)
        entity_props = {
            n for n in names if schema is not None and (p := schema.get(n)) is not None and p.type.name == "entity"
        }
        targets = {target.id: target for name, target in linked if not name.startswith("~")}
        link_rows = [
            {
                "relation": (
                    f"{kind_label(target.schema, lang)} — {property_label(target.schema, name[1:], lang)}"
                    if name.startswith("~")
                    else property_label(record.schema, name, lang)
                ),
                "incoming": name.startswith("~"),
                "record": target,
            }
            for name, target in linked
        ]
        shared = [
            r for r in releases.list_releases(session, viewer.user) if any(i.record_id == record.id for i in r.items)
        ]
        return show(
            request,
            "records/detail.html",
            viewer,
            status_code=status_code,
            r=record,
            names=names,
            entity_props=entity_props,
            targets=targets,
            link_rows=link_rows,
            shared=shared,
            **extra,
        )


@router.get("/records/{record_id}", response_class=HTMLResponse)
def detail_page(request: Request, viewer: ViewerDep, record_id: str) -> HTMLResponse:
    return _detail(request, viewer, record_id)


@router.post("/records/{record_id}/purge", response_model=None)
async def purge(request: Request, viewer: ViewerDep, record_id: str) -> Response:
    reason = text(await request.form(), "reason")
    node = node_of(request)
    try:
        with node.db.transaction() as session:
            records.purge_record(session, viewer.user, node.trail, record_id, reason)
    except ValidationError as exc:
        problems = [{**p, "field": "reason"} for p in domain_problems(exc, viewer.lang)]
        return _detail(
            request,
            viewer,
            record_id,
            status_code=exc.http_status,
            purge_errors=by_field(problems),
            purge_reason=reason,
        )
    return see_other(f"/records/{record_id}")


@router.get("/records/{record_id}/purge", response_model=None)
def purge_get(viewer: ViewerDep, record_id: str) -> Response:
    """The language switch after a refused purge comes back here: show the record."""
    return see_other(f"/records/{record_id}")


# ---------------------------------------------------------------------------------------------------- edit


def _editable(viewer: Viewer, record: Record) -> None:
    """Refuse to offer a form the service would refuse anyway, with the service's own reason."""
    require(viewer.user, Permission.EDIT_RECORDS)
    if record.read_only:
        raise PermissionDeniedError(
            "This record came from the partner ({partner}); its content and markings are the partner's and read-only.",
            partner=record.partner,
        )
    if record.purged:
        raise ValidationError("This record was purged; it cannot be edited.")


@router.get("/records/{record_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, viewer: ViewerDep, record_id: str) -> HTMLResponse:
    with node_of(request).db.reading() as session:
        record = records.get_record(session, viewer.user, record_id)
        _editable(viewer, record)
        return _form(
            request,
            viewer,
            mode="edit",
            schema_name=record.schema,
            properties={k: list(v) for k, v in record.properties.items()},
            markings=_saved_markings(record),
            record=record,
            version=str(record.version),
        )


@router.post("/records/{record_id}/edit", response_model=None)
async def edit(request: Request, viewer: ViewerDep, record_id: str) -> Response:
    form = await request.form()
    properties = _read_properties(form)
    markings = _read_markings(form)
    version = text(form, "version")
    node = node_of(request)

    def again(problems: Sequence[Problem], status_code: int, *, conflict: str = "", saved: str = "") -> HTMLResponse:
        with node.db.reading() as session:
            record = records.get_record(session, viewer.user, record_id)
            return _form(
                request,
                viewer,
                mode="edit",
                schema_name=record.schema,
                properties=properties,
                markings=markings,
                problems=problems,
                status_code=status_code,
                record=record,
                version=saved or version,
                conflict=conflict,
            )

    try:
        patch = RecordPatch.model_validate(
            {"version": optional(version) or 0, "properties": properties, "markings": _markings_input(markings)}
        )
    except InputError as exc:
        with node.db.reading() as session:
            schema_name = records.get_record(session, viewer.user, record_id).schema
        problems = input_problems(exc, viewer.lang) + _property_problems(request, schema_name, properties, viewer.lang)
        return again(problems, 422)
    try:
        with node.db.transaction() as session:
            records.update_record(session, viewer.user, node.trail, record_id, patch)
    except ConflictError as exc:
        # Keep the user's input; saving again is a deliberate choice on top of the version now saved.
        with node.db.reading() as session:
            current = str(records.get_record(session, viewer.user, record_id).version)
        return again((), exc.http_status, conflict=exc.render(gettext_for(viewer.lang)), saved=current)
    except ValidationError as exc:
        return again(domain_problems(exc, viewer.lang), exc.http_status)
    return see_other(f"/records/{record_id}")
