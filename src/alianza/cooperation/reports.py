"""The bilingual progress report of the follow-up mechanism, as HTML and PDF.

The report tells what the mechanism looked like at the end of a period and what happened during it, so it is
built from the timeline rather than from the commitments' current fields: changes recorded after the period
end are rolled back (status, progress, due date), and a follow-up is dated by the meeting that decided it when
there is one, because minutes are often typed in weeks after the meeting.

``build_report`` copies everything it needs into plain frozen dataclasses while the session is open: the API
renders after its read-only session has been rolled back and closed, when ORM objects are expired and detached.
The HTML and the PDF come from one Jinja2 template; WeasyPrint renders the PDF from that same HTML with every
URL fetch refused, so a report never reaches the network.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.cooperation import commitments as commitment_service
from alianza.cooperation import indicators as indicator_service
from alianza.cooperation.charts import trend_svg
from alianza.cooperation.models import Commitment, FollowUp, Indicator, Meeting, Observation
from alianza.errors import ValidationError
from alianza.i18n import Gettext, Lang, gettext_for, normalise_lang, pick
from alianza.settings import NodeSettings
from alianza.vocab import vocabulary

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html"

# Babel locales: Mexican Spanish, because the report's Spanish readers are Mexican officials (it writes
# 21,889.5 as they and the public sources do, where plain "es" would write 21.889,5).
BABEL_LOCALES: dict[str, str] = {"en": "en_US", "es": "es_MX"}

Bilingual = Mapping[str, str]


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return message


KIND_LABELS: dict[str, str] = {
    "created": N_("New commitment"),
    "updated": N_("Update"),
    "note": N_("Note"),
    "evidence": N_("Evidence"),
    "decision": N_("Meeting decision"),
}

FIELD_LABELS: dict[str, str] = {
    "status": N_("Status"),
    "progress": N_("Progress"),
    "due_date": N_("Due date"),
    "title_en": N_("Title (English)"),
    "title_es": N_("Title (Spanish)"),
    "description_en": N_("Description (English)"),
    "description_es": N_("Description (Spanish)"),
    "areas": N_("Areas"),
    "lead_agency": N_("Lead agency"),
    "supporting_agencies": N_("Supporting agencies"),
    "indicator_codes": N_("Indicators"),
    "illustrative": N_("Illustrative data"),
    "evidence": N_("Evidence"),
}

COUNTRY_LABELS: dict[str, str] = {"MX": N_("Mexico"), "US": N_("United States")}

PAGE_FOOTER = N_("Page {page} of {pages}")
UPDATED = N_("updated")
YES = N_("yes")
NO = N_("no")

# Fields whose value at the period end is rolled back from the timeline (the ones the report shows).
AS_OF_FIELDS = ("status", "progress", "due_date")


# ---------------------------------------------------------------------------------------------- report data


@dataclass(frozen=True)
class Change:
    """One field of a follow-up: ``old`` is None when the field was set for the first time."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class CommitmentItem:
    """A commitment as it stood at the period end."""

    id: int
    title: Bilingual
    country: str
    lead_agency: str
    supporting_agencies: tuple[str, ...]
    areas: tuple[str, ...]
    due_date: dt.date
    status: str  # effective status at the period end ('overdue' included)
    progress: int
    illustrative: bool
    source: str


@dataclass(frozen=True)
class FollowUpItem:
    """A follow-up that happened within the period."""

    id: int
    date: dt.date
    commitment_id: int
    commitment_title: Bilingual
    kind: str
    changes: tuple[Change, ...]
    note: Bilingual
    author: str
    meeting_title: Bilingual | None
    illustrative: bool


@dataclass(frozen=True)
class DecisionItem:
    text: Bilingual
    kind: str  # creates | updates | notes
    commitment_title: Bilingual | None
    changes: tuple[Change, ...]
    illustrative: bool


@dataclass(frozen=True)
class MeetingItem:
    id: int
    date: dt.date
    title: Bilingual
    place: str
    chairs: tuple[str, ...]
    agencies: tuple[str, ...]
    source: str
    next_meeting_date: dt.date | None
    illustrative: bool
    decisions: tuple[DecisionItem, ...]


@dataclass(frozen=True)
class Figure:
    """A value of an indicator with the public source it comes from."""

    value: float
    date: dt.date
    period: Bilingual
    source: str
    source_url: str
    illustrative: bool


@dataclass(frozen=True)
class IndicatorItem:
    code: str
    name: Bilingual
    unit: Bilingual
    description: Bilingual
    direction: str
    latest: Figure
    previous: Figure | None
    baseline: Figure | None  # None when the indicator has no baseline: change is then since the first value
    first: Figure
    change: float | None
    target_value: float | None
    target_date: dt.date | None
    target_illustrative: bool
    fraction: float | None
    improving: bool | None
    observations_in_period: int
    chart_svg: str
    chart_sources: tuple[str, ...]
    illustrative_points: bool


@dataclass(frozen=True)
class AreaSection:
    code: str
    commitments: tuple[CommitmentItem, ...]
    status_counts: tuple[tuple[str, int], ...]
    followups: tuple[FollowUpItem, ...]
    completed: tuple[CommitmentItem, ...]
    overdue: tuple[CommitmentItem, ...]
    due_soon: tuple[CommitmentItem, ...]
    indicators: tuple[IndicatorItem, ...]


@dataclass(frozen=True)
class Summary:
    total_commitments: int
    status_counts: tuple[tuple[str, int], ...]  # every status, vocabulary order
    followups: int
    new_commitments: int
    completed: int
    overdue: int
    due_soon: int
    meetings: int


@dataclass(frozen=True)
class ProgressReport:
    lang: Lang
    start: dt.date
    end: dt.date
    node_name: str
    node_country: str
    generated_at: dt.datetime  # aware, UTC
    summary: Summary
    meetings: tuple[MeetingItem, ...]
    areas: tuple[AreaSection, ...]
    agencies: tuple[str, ...]  # codes named anywhere in the report, for the glossary
    has_illustrative: bool

    @property
    def due_soon_days(self) -> int:
        return commitment_service.DUE_SOON_DAYS


# ---------------------------------------------------------------------------------------------- building


def _bi(en: str, es: str) -> dict[str, str]:
    return {"en": en, "es": es}


def _event_date(followup: FollowUp, commitment: Commitment) -> dt.date:
    """When a follow-up happened: its meeting's date, the commitment's origin for its creation, else when typed."""
    if followup.meeting is not None:
        return followup.meeting.date
    if followup.kind == "created":
        return commitment.origin_date
    return followup.created_at.date()


def _parse(field: str, value: Any) -> Any:
    if field == "due_date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _state_at(commitment: Commitment, dated: list[tuple[dt.date, FollowUp]], end: dt.date) -> dict[str, Any]:
    """Status, progress and due date at ``end``: roll back, newest first, the changes dated after it.

    A field also changed by a later-recorded follow-up dated within the period keeps that follow-up's value,
    so a decision typed in late does not get undone by an unrelated newer edit.
    """
    state: dict[str, Any] = {f: getattr(commitment, f) for f in AS_OF_FIELDS}
    pinned: set[str] = set()
    for when, followup in sorted(dated, key=lambda pair: pair[1].id, reverse=True):
        fields = [f for f in AS_OF_FIELDS if f in (followup.changes or {})]
        if when <= end:
            pinned.update(fields)
            continue
        for field in fields:
            old = followup.changes[field][0]
            if field not in pinned and old is not None:
                state[field] = _parse(field, old)
    return state


def _changes(raw: Mapping[str, Any] | None) -> tuple[Change, ...]:
    result = []
    for field, pair in (raw or {}).items():
        old, new = (pair[0], pair[1]) if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        result.append(Change(field, _parse(field, old), _parse(field, new)))
    return tuple(result)


def _author(user: User | None) -> str:
    if user is None:
        return ""
    agency = vocabulary().agencies.get(user.agency)
    name = user.display_name or user.username
    return f"{name} ({agency.abbreviation})" if agency else name


def _figure(o: Observation) -> Figure:
    return Figure(o.value, o.date, _bi(o.period_en, o.period_es), o.source, o.source_url, o.illustrative)


def _indicator_item(indicator: Indicator, start: dt.date, end: dt.date, lang: Lang) -> IndicatorItem | None:
    observations = [o for o in indicator.observations if o.date <= end]
    if not observations:
        return None
    state = indicator_service.progress(indicator, until=end)
    assert state.latest is not None  # observations up to ``end`` exist
    baseline = None
    if indicator.baseline_value is not None:
        same_day = next((o for o in observations if o.date == indicator.baseline_date), None)
        baseline = Figure(
            indicator.baseline_value,
            indicator.baseline_date or observations[0].date,
            _bi(same_day.period_en, same_day.period_es) if same_day else _bi("", ""),
            same_day.source if same_day else indicator.source,
            same_day.source_url if same_day else "",
            same_day.illustrative if same_day else False,
        )
    name = _bi(indicator.name_en, indicator.name_es)
    unit = _bi(indicator.unit_en, indicator.unit_es)
    svg = trend_svg(observations, title=pick(name, lang), unit=pick(unit, lang), target=indicator.target_value)
    return IndicatorItem(
        code=indicator.code,
        name=name,
        unit=unit,
        description=_bi(indicator.description_en, indicator.description_es),
        direction=indicator.direction,
        latest=_figure(state.latest),
        previous=_figure(state.previous) if state.previous else None,
        baseline=baseline,
        first=_figure(observations[0]),
        change=state.change,
        target_value=indicator.target_value,
        target_date=indicator.target_date,
        target_illustrative=indicator.target_illustrative,
        fraction=state.fraction,
        improving=state.improving,
        observations_in_period=sum(1 for o in observations if o.date >= start),
        chart_svg=svg,
        chart_sources=tuple(dict.fromkeys(o.source for o in observations)),
        illustrative_points=any(o.illustrative for o in observations),
    )


def _status_counts(items: Iterable[CommitmentItem], *, keep_zeros: bool) -> tuple[tuple[str, int], ...]:
    counts = Counter(i.status for i in items)
    return tuple((code, counts[code]) for code in vocabulary().statuses if keep_zeros or counts[code])


def build_report(
    session: Session,
    actor: User,
    start: dt.date,
    end: dt.date,
    lang: Lang,
    settings: NodeSettings,
) -> ProgressReport:
    """Gather the period's facts per measure area, as plain data that outlives the session."""
    require(actor, Permission.READ_COOPERATION)
    if end < start:
        raise ValidationError(
            "The report period ends ({end}) before it starts ({start}).", start=start.isoformat(), end=end.isoformat()
        )
    lang = normalise_lang(lang)
    vocab = vocabulary()

    meetings = list(
        session.scalars(select(Meeting).options(selectinload(Meeting.decisions)).order_by(Meeting.date, Meeting.id))
    )
    rows = list(
        session.scalars(
            select(Commitment).options(selectinload(Commitment.followups)).order_by(Commitment.due_date, Commitment.id)
        ).unique()
    )
    indicators = list(
        session.scalars(select(Indicator).options(selectinload(Indicator.observations)).order_by(Indicator.code))
    )

    # Decision texts, to show a decision's own words (in the reader's language) instead of the "en / es" note
    # that add_decision writes to the timeline; and which decisions' follow-ups were illustrative.
    decision_text: dict[tuple[int, int], dict[str, str]] = {}
    for m in meetings:
        for d in m.decisions:
            if d.commitment_id is not None:
                decision_text[(m.id, d.commitment_id)] = _bi(d.text_en, d.text_es)
    decision_followups: dict[tuple[int, int], FollowUp] = {}

    items: dict[int, CommitmentItem] = {}
    period_followups: list[FollowUpItem] = []
    completed_ids: set[int] = set()
    new_ids: set[int] = set()
    for c in rows:
        if c.origin_date > end:
            continue  # it did not exist yet
        dated = [(_event_date(f, c), f) for f in c.followups]
        state = _state_at(c, dated, end)
        as_of = Commitment(status=state["status"], due_date=state["due_date"])  # transient: never added
        title = _bi(c.title_en, c.title_es)
        items[c.id] = CommitmentItem(
            id=c.id,
            title=title,
            country=c.country,
            lead_agency=c.lead_agency,
            supporting_agencies=tuple(c.supporting_agencies or ()),
            areas=tuple(c.areas or ()),
            due_date=state["due_date"],
            status=commitment_service.effective_status(as_of, today=end),
            progress=int(state["progress"] or 0),
            illustrative=c.illustrative,
            source=c.source,
        )
        for when, f in dated:
            if f.meeting_id is not None:
                decision_followups[(f.meeting_id, c.id)] = f
            if not start <= when <= end:
                continue
            note: dict[str, str] = _bi(f.note, f.note)
            if f.meeting_id is not None:
                text = decision_text.get((f.meeting_id, c.id))
                if text is not None and f.note in ("", f"{text['en']} / {text['es']}"):
                    note = dict(text)
            changes = _changes(f.changes)
            if f.kind == "created":
                new_ids.add(c.id)
            if any(ch.field == "status" and ch.new == "completed" for ch in changes):
                completed_ids.add(c.id)
            period_followups.append(
                FollowUpItem(
                    id=f.id,
                    date=when,
                    commitment_id=c.id,
                    commitment_title=title,
                    kind=f.kind,
                    changes=changes,
                    note=note,
                    author=_author(f.author),
                    meeting_title=_bi(f.meeting.title_en, f.meeting.title_es) if f.meeting else None,
                    illustrative=f.illustrative,
                )
            )
    period_followups.sort(key=lambda f: (f.date, f.id))

    meeting_items: list[MeetingItem] = []
    for m in meetings:
        if not start <= m.date <= end:
            continue
        decisions = []
        for d in m.decisions:
            linked = d.commitment
            followup = decision_followups.get((m.id, d.commitment_id)) if d.commitment_id is not None else None
            illustrative = m.illustrative or bool(followup and followup.illustrative)
            if d.kind == "creates" and linked is not None:
                illustrative = illustrative or linked.illustrative
            decisions.append(
                DecisionItem(
                    text=_bi(d.text_en, d.text_es),
                    kind=d.kind,
                    commitment_title=_bi(linked.title_en, linked.title_es) if linked else None,
                    changes=_changes(followup.changes) if followup is not None and d.kind == "updates" else (),
                    illustrative=illustrative,
                )
            )
        meeting_items.append(
            MeetingItem(
                id=m.id,
                date=m.date,
                title=_bi(m.title_en, m.title_es),
                place=m.place,
                chairs=tuple(m.chairs or ()),
                agencies=tuple(m.agencies or ()),
                source=m.source,
                next_meeting_date=m.next_meeting_date,
                illustrative=m.illustrative,
                decisions=tuple(decisions),
            )
        )

    indicator_items: dict[str, list[IndicatorItem]] = {}
    for indicator in indicators:
        item = _indicator_item(indicator, start, end, lang)
        if item is not None:
            indicator_items.setdefault(indicator.area, []).append(item)

    def due_soon(i: CommitmentItem) -> bool:
        return commitment_service.is_due_soon(Commitment(status=i.status, due_date=i.due_date), today=end)

    sections: list[AreaSection] = []
    for code in vocab.areas:
        area_items = [i for i in items.values() if code in i.areas]
        area_ids = {i.id for i in area_items}
        area_indicators = indicator_items.get(code, [])
        if not area_items and not area_indicators:
            continue
        sections.append(
            AreaSection(
                code=code,
                commitments=tuple(area_items),
                status_counts=_status_counts(area_items, keep_zeros=False),
                followups=tuple(f for f in period_followups if f.commitment_id in area_ids),
                completed=tuple(i for i in area_items if i.id in completed_ids),
                overdue=tuple(i for i in area_items if i.status == "overdue"),
                due_soon=tuple(i for i in area_items if due_soon(i)),
                indicators=tuple(area_indicators),
            )
        )

    all_items = list(items.values())
    summary = Summary(
        total_commitments=len(all_items),
        status_counts=_status_counts(all_items, keep_zeros=True),
        followups=len(period_followups),
        new_commitments=len(new_ids),
        completed=len(completed_ids),
        overdue=sum(1 for i in all_items if i.status == "overdue"),
        due_soon=sum(1 for i in all_items if due_soon(i)),
        meetings=len(meeting_items),
    )
    agency_codes: list[str] = []
    for i in all_items:
        agency_codes += [i.lead_agency, *i.supporting_agencies]
    for mi in meeting_items:
        agency_codes += list(mi.agencies)
    agencies = tuple(
        sorted(
            {a for a in agency_codes if a in vocab.agencies},
            key=lambda a: (vocab.agencies[a].country, vocab.agencies[a].abbreviation),
        )
    )
    has_illustrative = (
        any(i.illustrative for i in all_items)
        or any(f.illustrative for f in period_followups)
        or any(m.illustrative or any(d.illustrative for d in m.decisions) for m in meeting_items)
        or any(
            ind.latest.illustrative
            or ind.illustrative_points
            or ind.target_illustrative
            or (ind.baseline is not None and ind.baseline.illustrative)
            for s in sections
            for ind in s.indicators
        )
    )
    return ProgressReport(
        lang=lang,
        start=start,
        end=end,
        node_name=settings.node_name,
        node_country=settings.country,
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        summary=summary,
        meetings=tuple(meeting_items),
        areas=tuple(sections),
        agencies=agencies,
        has_illustrative=has_illustrative,
    )


# ---------------------------------------------------------------------------------------------- rendering


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _css_string(text: str) -> str:
    """A CSS string literal's content: quotes, backslashes and '<' escaped (it sits inside <style>)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ").replace("\n", " ")


def page_footer_css(gettext: Gettext) -> str:
    """The translated "Page {page} of {pages}" as a CSS ``content`` value built on the page counters."""
    parts: list[str] = []
    for piece in re.split(r"(\{pages?\})", gettext(PAGE_FOOTER)):
        if piece in ("{page}", "{pages}"):
            parts.append(f"counter({piece[1:-1]})")
        elif piece:
            parts.append(f'"{_css_string(piece)}"')
    return " ".join(parts)


def _helpers(lang: Lang, gettext: Gettext) -> dict[str, Callable[..., Any]]:
    vocab = vocabulary()
    locale = BABEL_LOCALES[lang]

    def date(value: dt.date | None) -> str:
        return format_date(value, format="long", locale=locale) if value else ""

    def datetime_utc(value: dt.datetime) -> str:
        moment = value.astimezone(dt.UTC)
        day = format_date(moment, format="long", locale=locale)
        return f"{day}, {format_time(moment, format='HH:mm', locale=locale)} UTC"

    def number(value: float | None, signed: bool = False) -> str:
        if value is None:
            return ""
        text = format_decimal(value, format="#,##0.##", locale=locale)
        return f"+{text}" if signed and value > 0 else text.replace("-", "−")

    def percent(value: float | None) -> str:
        return "" if value is None else str(format_percent(value / 100, locale=locale))

    def area(code: str) -> str:
        term = vocab.areas.get(code)
        return term.text(lang) if term else code

    def area_description(code: str) -> str:
        term = vocab.areas.get(code)
        return pick(term.description.model_dump(), lang) if term and term.description else ""

    def status(code: str) -> str:
        term = vocab.statuses.get(code)
        return term.text(lang) if term else code

    def agency(code: str) -> str:
        term = vocab.agencies.get(code)
        return term.abbreviation if term else code

    def agency_list(codes: Iterable[str]) -> str:
        return ", ".join(agency(c) for c in codes)

    def agency_name(code: str) -> str:
        term = vocab.agencies.get(code)
        return term.text(lang) if term else code

    def agency_country(code: str) -> str:
        term = vocab.agencies.get(code)
        return term.country if term else ""

    def country(code: str) -> str:
        return gettext(COUNTRY_LABELS[code]) if code in COUNTRY_LABELS else code

    def kind(code: str) -> str:
        return gettext(KIND_LABELS[code]) if code in KIND_LABELS else code

    def value_text(field: str, value: Any) -> str:
        if value is None:
            return ""
        if field == "status":
            return status(str(value))
        if field == "progress":
            return percent(value)
        if field == "due_date":
            return date(value) if isinstance(value, dt.date) else str(value)
        if field == "lead_agency":
            return agency(str(value))
        if field == "supporting_agencies":
            return ", ".join(agency(str(v)) for v in value) or "—"
        if field == "areas":
            return "; ".join(area(str(v)) for v in value)
        if field == "illustrative":
            return gettext(YES) if value else gettext(NO)
        if field == "evidence":
            return str(value)
        if field.startswith(("title_", "description_")):
            return gettext(UPDATED)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def change(ch: Change) -> str:
        label = gettext(FIELD_LABELS[ch.field]) if ch.field in FIELD_LABELS else ch.field
        new = value_text(ch.field, ch.new)
        if ch.field.startswith(("title_", "description_")):
            return f"{label}: {new}"
        if ch.old is None:
            return f"{label}: {new}"
        return f"{label}: {value_text(ch.field, ch.old)} → {new}"

    def css_string(text: str) -> str:
        return f'"{_css_string(text)}"'

    return {
        "fmt_date": date,
        "fmt_datetime": datetime_utc,
        "fmt_number": number,
        "area_label": area,
        "area_description": area_description,
        "status_label": status,
        "agency_abbr": agency,
        "agency_list": agency_list,
        "agency_name": agency_name,
        "agency_country": agency_country,
        "country_label": country,
        "kind_label": kind,
        "describe_change": change,
        "fmt_percent": percent,
        "css_string": css_string,
    }


def render_html(report: ProgressReport) -> str:
    """The report as one standalone HTML document: inline CSS and SVG, no external resource."""
    gettext = gettext_for(report.lang)
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(
        report=report,
        lang=report.lang,
        _=gettext,
        pick=lambda labels: pick(labels, report.lang),
        page_footer=page_footer_css(gettext),
        statuses=list(vocabulary().statuses),
        **_helpers(report.lang, gettext),
    )


def _refuse_fetch() -> Any:
    """A URL fetcher that allows only inline ``data:`` URLs: the report must never reach the network."""
    from weasyprint import URLFetcher

    return URLFetcher(allowed_protocols=("data",), fail_on_errors=False)


def render_pdf(report: ProgressReport) -> bytes:
    """The same HTML, laid out by WeasyPrint for A4 print (page numbers, repeated table headers)."""
    from weasyprint import HTML  # imported here: loading WeasyPrint costs time the HTML path does not need

    pdf = HTML(string=render_html(report), url_fetcher=_refuse_fetch()).write_pdf()
    return bytes(pdf)
