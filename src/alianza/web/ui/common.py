"""What every UI page shares: reading forms, problems in the reader's language, and showing stored values.

The pages are thin: they turn a form into one of the domain's input schemas, call one domain service in one
transaction, and either redirect (303, so a reload never posts twice) or re-render the form with the user's
input and the problems next to the fields. Nothing here decides what is allowed; the services do.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError as InputError
from starlette.datastructures import FormData

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, allowed
from alianza.cooperation.commitments import effective_status
from alianza.errors import AlianzaError
from alianza.i18n import Lang, catalog_msgids, gettext_for
from alianza.vocab import vocabulary
from alianza.web.auth import ui_viewer
from alianza.web.context import Viewer, node_of, request_lang
from alianza.web.templating import render

ViewerDep = Annotated[Viewer, Depends(ui_viewer)]

Problem = dict[str, str]


def N_(message: str) -> str:
    """Mark a msgid for the catalog without translating it yet (it is translated where it is shown)."""
    return message


FIELD_LABELS: dict[str, str] = {
    "title_en": N_("Title (English)"),
    "title_es": N_("Title (Spanish)"),
    "description_en": N_("Description (English)"),
    "description_es": N_("Description (Spanish)"),
    "areas": N_("Areas"),
    "country": N_("Responsible country"),
    "lead_agency": N_("Lead agency"),
    "supporting_agencies": N_("Supporting agencies"),
    "origin": N_("Origin"),
    "origin_meeting_id": N_("Origin"),
    "origin_date": N_("Origin date"),
    "due_date": N_("Due date"),
    "status": N_("Status"),
    "progress": N_("Progress (%)"),
    "indicator_codes": N_("Indicators"),
    "source": N_("Source"),
    "source_url": N_("Source address (URL)"),
    "illustrative": N_("Illustrative"),
    "evidence": N_("Evidence"),
    "note": N_("Note"),
    "version": N_("Version"),
    "title": N_("Title"),
    "url": N_("Address (URL)"),
    "file": N_("File"),
    "date": N_("Date"),
    "place": N_("Place"),
    "chairs": N_("Chairs"),
    "agencies": N_("Agencies"),
    "agenda_en": N_("Agenda (English)"),
    "agenda_es": N_("Agenda (Spanish)"),
    "minutes_en": N_("Minutes (English)"),
    "minutes_es": N_("Minutes (Spanish)"),
    "next_meeting_date": N_("Next meeting"),
    "text_en": N_("Decision (English)"),
    "text_es": N_("Decision (Spanish)"),
    "updates_commitment_id": N_("Commitment to update"),
    "commitment": N_("Commitment to update"),
    "updates.status": N_("New status"),
    "updates.progress": N_("New progress (%)"),
    "updates.note": N_("Note for the commitment's timeline"),
    "updates.version": N_("Version"),
    "value": N_("Value"),
    "period_en": N_("Period (English)"),
    "period_es": N_("Period (Spanish)"),
    "note_en": N_("Note (English)"),
    "note_es": N_("Note (Spanish)"),
}

COUNTRY_NAMES: dict[str, str] = {"US": N_("United States"), "MX": N_("Mexico")}

FOLLOWUP_KINDS: dict[str, str] = {
    "created": N_("Created"),
    "updated": N_("Updated"),
    "note": N_("Note"),
    "evidence": N_("Evidence added"),
    "decision": N_("Meeting decision"),
}

# Pydantic's messages are English prose we cannot translate reliably; each error type gets our own msgid.
_INPUT_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_long": N_("Use at most {max_length} characters."),
    "too_short": N_("Choose at least one."),
    "date_parsing": N_("Enter a date as YYYY-MM-DD."),
    "date_from_datetime_parsing": N_("Enter a date as YYYY-MM-DD."),
    "date_from_datetime_inexact": N_("Enter a date as YYYY-MM-DD."),
    "date_type": N_("Enter a date as YYYY-MM-DD."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "float_type": N_("Enter a number."),
    "finite_number": N_("Enter a number."),
    "greater_than_equal": N_("Enter a number of at least {ge}."),
    "less_than_equal": N_("Enter a number of at most {le}."),
    "literal_error": N_("Choose one of the options."),
    "enum": N_("Choose one of the options."),
    "string_pattern_mismatch": N_("The value does not have the expected form."),
}


# ---------------------------------------------------------------------------------------------------- forms


def text(form: FormData, name: str) -> str:
    """A text field, stripped; a missing field or a file where text was expected is empty."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def decimal(form: FormData, name: str, problems: list[Problem], lang: Lang) -> float | None:
    """A number field, a decimal comma taken as a point; None when empty, and a problem on the field when it is
    not a number."""
    raw = text(form, name).replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        problems.append({"field": name, "message": gettext_for(lang)("Enter a number.")})
        return None


def many(form: FormData, name: str) -> list[str]:
    """The ticked values of a group of checkboxes (or a multiple select), in the order sent."""
    return [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def optional(value: str) -> str | None:
    """An empty form field means 'not given', so the schema's default or 'no change' applies."""
    return value or None


def lines(value: str) -> list[str]:
    """A textarea with one entry per line (commas also separate), without blanks."""
    return [part.strip() for part in re.split(r"[\n,;]", value) if part.strip()]


def ticked(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


def is_local_path(target: str | None) -> bool:
    """Only redirect to our own pages: a path, not a scheme, a host or a protocol-relative ``//host``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(ch) < 32 for ch in target) or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str = "/") -> str:
    return target if target is not None and is_local_path(target) else default


def see_other(url: str) -> RedirectResponse:
    """Redirect after a successful POST (303), so that reloading the result page never submits again."""
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------------------------------- problems


@cache
def _templates(lang: Lang) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Regexes for the catalog's msgids with placeholders, longest first.

    Some domain services put an already formatted message in ``details`` (the template is lost); matching the
    text against the known templates recovers the parameters so the reader still gets it in their language.
    """
    found: list[tuple[re.Pattern[str], str]] = []
    for msgid in sorted(catalog_msgids(lang), key=len, reverse=True):
        pieces = re.split(r"\{(\w+)\}", msgid)
        if len(pieces) < 2 or len("".join(pieces[0::2])) < 8:
            continue
        pattern, seen = "", set()
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                pattern += re.escape(piece)
            elif piece in seen:
                pattern += f"(?P={piece})"
            else:
                seen.add(piece)
                pattern += f"(?P<{piece}>.+?)"
        found.append((re.compile(pattern, re.DOTALL), msgid))
    return tuple(found)


def localise(message: str, lang: Lang) -> str:
    """A message in the reader's language: a msgid, or a message formatted from a template we know."""
    gettext = gettext_for(lang)
    if lang == "en" or not message:
        return message
    translated = gettext(message)
    if translated != message:
        return translated
    for pattern, msgid in _templates(lang):
        match = pattern.fullmatch(message)
        if match is not None:
            try:
                return gettext(msgid).format(**match.groupdict())
            except (KeyError, IndexError, ValueError):
                break
    return message


def input_problems(exc: InputError, lang: Lang) -> list[Problem]:
    """Pydantic's errors as ``{field, message}`` in the reader's language, one per field and problem."""
    _ = gettext_for(lang)
    problems: list[Problem] = []
    for err in exc.errors():
        # Nested inputs (a decision's ``updates``) keep their path, so ``updates.status`` finds its field.
        field = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        if kind == "string_too_short":
            minimum = ctx.get("min_length", 1)
            message = (
                _("This field is required.")
                if minimum == 1
                else _("Use at least {min_length} characters.").format(min_length=minimum)
            )
        elif kind == "value_error":
            message = localise(str(ctx.get("error", err.get("msg", ""))), lang)
        elif kind in _INPUT_MESSAGES:
            try:
                message = _(_INPUT_MESSAGES[kind]).format(**{k: str(v) for k, v in ctx.items()})
            except (KeyError, IndexError):
                message = _(_INPUT_MESSAGES[kind])
        else:
            message = _("This value is not valid.")
        problem = {"field": field, "message": message}
        if problem not in problems:
            problems.append(problem)
    return problems


def _problem_text(detail: Mapping[str, Any], lang: Lang) -> str:
    """A problem carrying its template and parameters is translated before it is filled; a plain message is
    looked up as a msgid or recognised as a known template filled in English."""
    template, params = detail.get("template"), detail.get("params")
    if isinstance(template, str) and isinstance(params, Mapping):
        try:
            return str(gettext_for(lang)(template).format(**params))
        except (KeyError, IndexError, ValueError):
            pass
    return localise(str(detail.get("message", "")), lang)


def domain_problems(exc: AlianzaError, lang: Lang) -> list[Problem]:
    """The per-field details of a domain error in the reader's language; a detail-less error is one problem."""
    details = exc.details if isinstance(exc.details, list) else []
    problems = [
        {"field": str(d.get("field") or ""), "message": _problem_text(d, lang)} for d in details if isinstance(d, dict)
    ]
    if not problems:
        problems.append({"field": "", "message": exc.render(gettext_for(lang))})
    return problems


def by_field(problems: Sequence[Mapping[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.get("field", ""), []).append(p["message"])
    return out


# ---------------------------------------------------------------------------------------------------- values


def term_text(kind: str, code: str, lang: Lang) -> str:
    """A vocabulary code as its label; an unknown code is shown as itself rather than hidden."""
    terms: Mapping[str, Any] = getattr(vocabulary(), kind)
    term = terms.get(code)
    return str(term.text(lang)) if term is not None else code


def show_value(field: str, value: Any, lang: Lang) -> str:
    """A stored value as a reader understands it: labels for codes, Yes/No, dates as YYYY-MM-DD."""
    _ = gettext_for(lang)
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field == "status":
        return term_text("statuses", str(value), lang)
    if field == "areas":
        return "; ".join(term_text("areas", str(v), lang) for v in value)
    if field in ("lead_agency", "supporting_agencies", "agencies"):
        codes = value if isinstance(value, list) else [value]
        return "; ".join(term_text("agencies", str(v), lang) for v in codes)
    if field == "country":
        return _(COUNTRY_NAMES.get(str(value), str(value)))
    if field == "progress":
        return f"{value} %"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def number(value: float | int | None) -> str:
    """A figure with thousands separators (the same in US and Mexican usage: 1,234.5)."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


# On the timeline a value carries its unit ("40 %"), so the label does not repeat it.
_CHANGE_LABELS = {**FIELD_LABELS, "progress": N_("Progress")}


def change_lines(changes: Mapping[str, Any], lang: Lang) -> list[tuple[str, str, str]]:
    """A follow-up's ``{field: [old, new]}`` as (label, old, new) rows in the reader's language."""
    gettext = gettext_for(lang)
    rows = []
    for field, pair in changes.items():
        old, new = (pair[0], pair[1]) if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        rows.append(
            (gettext(_CHANGE_LABELS.get(field, field)), show_value(field, old, lang), show_value(field, new, lang))
        )
    return rows


def bilingual(obj: Any, field: str, lang: Lang) -> tuple[str, Lang]:
    """The text of ``field`` in ``lang`` (``title_es``...), else the other language; returns which one it is."""
    other: Lang = "en" if lang == "es" else "es"
    mine = getattr(obj, f"{field}_{lang}", "") if not isinstance(obj, Mapping) else obj.get(f"{field}_{lang}", "")
    if mine:
        return str(mine), lang
    theirs = getattr(obj, f"{field}_{other}", "") if not isinstance(obj, Mapping) else obj.get(f"{field}_{other}", "")
    return str(theirs or ""), other


# ---------------------------------------------------------------------------------------------------- pages


def choices(lang: Lang, own_country: str) -> dict[str, Any]:
    """The vocabularies as (value, label) options for selects and checkboxes, the node's own country first."""
    gettext = gettext_for(lang)
    vocab = vocabulary()
    countries = [own_country, *(c for c in ("MX", "US") if c != own_country)]
    groups = {
        c: (gettext(COUNTRY_NAMES[c]), [(a.code, f"{a.abbreviation} — {a.text(lang)}") for a in vocab.agencies_of(c)])
        for c in countries
    }
    return {
        "areas": [(code, term.text(lang)) for code, term in vocab.areas.items()],
        "statuses": [(code, term.text(lang)) for code, term in vocab.statuses.items()],
        "settable_statuses": [(s.code, s.text(lang)) for s in vocab.settable_statuses()],
        "countries": [(c, gettext(COUNTRY_NAMES[c])) for c in countries],
        "agency_groups": [groups[c] for c in countries],
        "agency_group_of": groups,
        "agencies_short": {a.code: a.abbreviation for a in vocab.agencies.values()},
    }


def can(user: User | None, permission: str) -> bool:
    """Whether to show a button; the service still checks when the button is used."""
    return user is not None and allowed(user, Permission(permission))


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status_code: int = 200,
    problems: Sequence[Mapping[str, str]] = (),
    **context: Any,
) -> HTMLResponse:
    """Render a page with the helpers every template uses."""
    lang = viewer.lang if viewer else request_lang(request)
    return render(
        request,
        template,
        viewer,
        status_code=status_code,
        problems=list(problems),
        errors=by_field(problems),
        field_labels=FIELD_LABELS,
        followup_kinds=FOLLOWUP_KINDS,
        show_value=show_value,
        number=number,
        change_lines=change_lines,
        bilingual=bilingual,
        status_of=effective_status,
        can=can,
        choices=choices(lang, node_of(request).settings.country),
        **context,
    )
