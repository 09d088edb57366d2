"""Bulk loading of commitments, meetings (with their decisions), indicators and observations.

Two formats: a YAML document ``{indicators: [...], commitments: [...], meetings: [...]}`` — the same shape the
demo scenario uses, so the demo is loaded by this very code — and CSV files of commitments or of observations.
The whole file is validated and applied in one transaction; every bad entry is reported with its line number
and, if there is any, nothing is written. A dry run does all of it and rolls back.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.cooperation import commitments, indicators, meetings
from alianza.cooperation.models import Commitment
from alianza.cooperation.schemas import (
    CommitmentInput,
    CommitmentPatch,
    DecisionInput,
    IndicatorInput,
    MeetingInput,
    ObservationInput,
)
from alianza.errors import AlianzaError, ValidationError, problem

LINE = "__line__"
MAX_PROBLEMS = 200
COMMITMENT_COLUMNS = ("title_en", "title_es", "areas", "country", "lead_agency", "due_date")
OBSERVATION_COLUMNS = ("indicator", "date", "value", "source")
LIST_COLUMNS = ("areas", "supporting_agencies", "indicator_codes")


@dataclass
class ImportResult:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that remembers the line where each mapping starts, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != LINE}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[dict[str, Any]] = []

    def add(self, line: int | None, template: str, field_name: str | None = None, **params: Any) -> None:
        """A problem at ``line``, kept as template + params so the web layer can show it in Spanish."""
        if len(self.items) < MAX_PROBLEMS:
            self.items.append({"line": line} | problem(field_name, template, **params))

    def from_pydantic(self, line: int | None, exc: PydanticValidationError) -> None:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            self.add(line, err.get("msg", "invalid"), loc or None)

    def from_alianza(self, line: int | None, exc: AlianzaError) -> None:
        if isinstance(exc.details, list) and exc.details:
            for d in exc.details:
                template = d.get("template") or d.get("message", exc.template)
                self.add(line, str(template), d.get("field"), **(d.get("params") or {}))
        else:
            self.add(line, exc.template, None, **exc.params)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(
                "{source}: {count} problem(s); nothing was imported. Fix every listed line and run again.",
                details=self.items,
                source=self.source,
                count=len(self.items),
            )


def _bilingual(entry: dict[str, Any], key: str, target: dict[str, Any]) -> None:
    value = entry.get(key)
    if isinstance(value, dict):
        target[f"{key}_en"] = value.get("en", "")
        target[f"{key}_es"] = value.get("es", "")
    elif value is not None:
        target[f"{key}_en"] = value


def commitment_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The demo/YAML shape of a commitment → the fields of ``CommitmentInput``."""
    out: dict[str, Any] = {}
    _bilingual(entry, "title", out)
    _bilingual(entry, "description", out)
    for key in (
        "areas",
        "country",
        "lead_agency",
        "supporting_agencies",
        "due_date",
        "status",
        "progress",
        "source",
        "illustrative",
        "origin_date",
    ):
        if key in entry:
            out[key] = entry[key]
    if "indicators" in entry:
        out["indicator_codes"] = entry["indicators"] or []
    return _strip_lines(out)  # type: ignore[no-any-return]


def _meeting_fields(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _bilingual(entry, "title", out)
    _bilingual(entry, "agenda", out)
    _bilingual(entry, "minutes", out)
    for key in ("date", "place", "chairs", "agencies", "source", "illustrative", "next_meeting_date"):
        if key in entry and entry[key] is not None:
            out[key] = entry[key]
    return _strip_lines(out)  # type: ignore[no-any-return]


def _indicator_fields(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _bilingual(entry, "name", out)
    _bilingual(entry, "unit", out)
    _bilingual(entry, "description", out)
    for key in ("code", "area", "direction", "source"):
        if key in entry:
            out[key] = entry[key]
    for which in ("baseline", "target"):
        spec = entry.get(which)
        if isinstance(spec, dict):
            out[f"{which}_value"] = spec.get("value")
            out[f"{which}_date"] = spec.get("date")
            if which == "target":
                out["target_illustrative"] = bool(spec.get("illustrative", False))
    return _strip_lines(out)  # type: ignore[no-any-return]


def _observation_fields(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _bilingual(entry, "period", out)
    _bilingual(entry, "note", out)
    for key in ("date", "value", "source", "source_url", "illustrative"):
        if key in entry and entry[key] is not None:
            out[key] = entry[key]
    return _strip_lines(out)  # type: ignore[no-any-return]


def _as_list(value: Any, problems: _Problems, line: int | None, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.add(line, "'{what}' must be a list of mappings.", what=what)
        return []
    return value


def import_document(session: Session, actor: User, document: Any, source: str = "document") -> ImportResult:
    """Apply a YAML-shaped document; raises ``ValidationError`` listing every problem (caller rolls back)."""
    problems = _Problems(source)
    result = ImportResult()
    if not isinstance(document, dict):
        problems.add(1, "The file must be a mapping with 'indicators', 'commitments' and/or 'meetings'.")
        problems.raise_if_any()
    unknown = set(document) - {"indicators", "commitments", "meetings", LINE}
    if unknown:
        problems.add(
            1,
            "Unknown sections: {sections}; use indicators, commitments, meetings.",
            sections=", ".join(sorted(map(str, unknown))),
        )
    _import_indicators(
        session, actor, _as_list(document.get("indicators"), problems, 1, "indicators"), problems, result
    )
    entries = _as_list(document.get("commitments"), problems, 1, "commitments")
    meeting_entries = _as_list(document.get("meetings"), problems, 1, "meetings")
    by_key: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key = entry.get("key")
        if key is not None:
            if key in by_key:
                problems.add(entry.get(LINE), "Commitment key '{key}' appears twice.", "key", key=key)
            by_key[str(key)] = entry
    meeting_keys = {str(m.get("key")) for m in meeting_entries if m.get("key") is not None}
    created: dict[str, Commitment] = {}

    for entry in entries:
        origin = entry.get("origin", "statement")
        if origin != "statement" and origin not in meeting_keys:
            problems.add(
                entry.get(LINE),
                "Origin '{origin}' is neither 'statement' nor a meeting key of this file.",
                "origin",
                origin=origin,
            )
            continue
        if origin == "statement":
            commitment = _create_commitment(session, actor, entry, None, problems, result)
            if commitment is not None and entry.get("key") is not None:
                created[str(entry["key"])] = commitment

    for m_entry in sorted(meeting_entries, key=lambda m: str(m.get("date"))):
        _import_meeting(session, actor, m_entry, by_key, created, problems, result)

    created_by_decision = set(created)
    for entry in entries:
        key = entry.get("key")
        if entry.get("origin", "statement") in meeting_keys and str(key) not in created_by_decision:
            problems.add(
                entry.get(LINE),
                "Commitment '{key}' names a meeting as origin, but no decision of that meeting creates it.",
                "origin",
                key=key,
            )
    problems.raise_if_any()
    return result


def _create_commitment(
    session: Session,
    actor: User,
    entry: dict[str, Any],
    meeting_id: int | None,
    problems: _Problems,
    result: ImportResult,
    *,
    note: str = "",
) -> Commitment | None:
    line = entry.get(LINE)
    try:
        data = CommitmentInput.model_validate(commitment_fields(entry) | {"origin_meeting_id": meeting_id})
        commitment = commitments.create_commitment(session, actor, data, meeting_id=meeting_id, note=note)
    except PydanticValidationError as exc:
        problems.from_pydantic(line, exc)
        return None
    except AlianzaError as exc:
        problems.from_alianza(line, exc)
        return None
    result.created["commitments"] += 1
    return commitment


def _import_indicators(
    session: Session, actor: User, entries: list[dict[str, Any]], problems: _Problems, result: ImportResult
) -> None:
    for entry in entries:
        line = entry.get(LINE)
        try:
            data = IndicatorInput.model_validate(_indicator_fields(entry))
            indicators.create_indicator(session, actor, data)
        except PydanticValidationError as exc:
            problems.from_pydantic(line, exc)
            continue
        except AlianzaError as exc:
            problems.from_alianza(line, exc)
            continue
        result.created["indicators"] += 1
        for obs in _as_list(entry.get("observations"), problems, line, "observations"):
            _observe(session, actor, data.code, obs, obs.get(LINE), problems, result)


def _observe(
    session: Session,
    actor: User,
    code: str,
    fields: dict[str, Any],
    line: int | None,
    problems: _Problems,
    result: ImportResult,
) -> None:
    try:
        indicators.observe(session, actor, code, ObservationInput.model_validate(_observation_fields(fields)))
    except PydanticValidationError as exc:
        problems.from_pydantic(line, exc)
        return
    except AlianzaError as exc:
        problems.from_alianza(line, exc)
        return
    result.created["observations"] += 1


def _import_meeting(
    session: Session,
    actor: User,
    entry: dict[str, Any],
    by_key: dict[str, dict[str, Any]],
    created: dict[str, Commitment],
    problems: _Problems,
    result: ImportResult,
) -> None:
    line = entry.get(LINE)
    try:
        meeting = meetings.create_meeting(session, actor, MeetingInput.model_validate(_meeting_fields(entry)))
    except PydanticValidationError as exc:
        problems.from_pydantic(line, exc)
        return
    except AlianzaError as exc:
        problems.from_alianza(line, exc)
        return
    result.created["meetings"] += 1
    for decision in _as_list(entry.get("decisions"), problems, line, "decisions"):
        d_line = decision.get(LINE)
        text = decision.get("text") or {}
        text_en, text_es = (text.get("en", ""), text.get("es", "")) if isinstance(text, dict) else (str(text), "")
        try:
            if "creates" in decision:
                key = str(decision["creates"])
                target = by_key.get(key)
                if target is None:
                    problems.add(
                        d_line, "The decision creates '{key}', which is not a commitment of this file.", key=key
                    )
                    continue
                data = CommitmentInput.model_validate(commitment_fields(target) | {"origin_meeting_id": meeting.id})
                made = meetings.add_decision(
                    session, actor, meeting.id, DecisionInput(text_en=text_en, text_es=text_es, creates=data)
                )
                if made.commitment is not None:
                    created[key] = made.commitment
                result.created["commitments"] += 1
            elif "updates" in decision:
                spec = decision["updates"] or {}
                key = str(spec.get("commitment"))
                existing = created.get(key)
                if existing is None:
                    problems.add(
                        d_line, "The decision updates '{key}', which does not exist before this meeting.", key=key
                    )
                    continue
                note = spec.get("note") or {}
                note_text = f"{note.get('en', '')} / {note.get('es', '')}" if isinstance(note, dict) else str(note)
                patch = CommitmentPatch(
                    version=existing.version,
                    status=spec.get("status"),
                    progress=spec.get("progress"),
                    note=note_text.strip(" /"),
                )
                meetings.add_decision(
                    session,
                    actor,
                    meeting.id,
                    DecisionInput(
                        text_en=text_en,
                        text_es=text_es,
                        updates_commitment_id=existing.id,
                        updates=patch,
                        illustrative=bool(spec.get("illustrative", False)),
                    ),
                )
                result.updated["commitments"] += 1
            else:
                meetings.add_decision(session, actor, meeting.id, DecisionInput(text_en=text_en, text_es=text_es))
            result.created["decisions"] += 1
        except PydanticValidationError as exc:
            problems.from_pydantic(d_line, exc)
        except AlianzaError as exc:
            problems.from_alianza(d_line, exc)


def _csv_rows(text: str, problems: _Problems, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        problems.add(1, "Missing column(s): {columns}.", columns=", ".join(missing))
        return []
    rows = []
    for row in reader:
        if None in row:
            problems.add(reader.line_num, "This row has more cells than the header.")
            continue
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}))
    return rows


def import_csv(session: Session, actor: User, text: str, source: str = "file.csv") -> ImportResult:
    """CSV of commitments (lists separated by ';') or of observations, told apart by their header."""
    problems = _Problems(source)
    result = ImportResult()
    header = next(csv.reader(io.StringIO(text)), [])
    if "indicator" in header and "value" in header:
        for line, row in _csv_rows(text, problems, OBSERVATION_COLUMNS):
            code = row.pop("indicator")
            fields: dict[str, Any] = {k: v for k, v in row.items() if v != ""}
            fields["illustrative"] = fields.get("illustrative", "").lower() in ("1", "true", "yes")
            _observe(session, actor, code, fields, line, problems, result)
    else:
        for line, row in _csv_rows(text, problems, COMMITMENT_COLUMNS):
            fields = {k: v for k, v in row.items() if v != ""}
            for key in LIST_COLUMNS:
                if key in fields:
                    fields[key] = [p.strip() for p in str(fields[key]).split(";") if p.strip()]
            if "illustrative" in fields:
                fields["illustrative"] = str(fields["illustrative"]).lower() in ("1", "true", "yes")
            try:
                data = CommitmentInput.model_validate(fields)
                commitments.create_commitment(session, actor, data)
            except PydanticValidationError as exc:
                problems.from_pydantic(line, exc)
                continue
            except AlianzaError as exc:
                problems.from_alianza(line, exc)
                continue
            result.created["commitments"] += 1
    problems.raise_if_any()
    return result


def import_file(session: Session, actor: User, path: Path) -> ImportResult:
    """Import a .yaml/.yml or .csv file; the caller's transaction makes it all-or-nothing."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError:
        raise ValidationError("{file} is not UTF-8 text; save it as UTF-8 and try again.", file=path.name) from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            document = yaml.load(text, Loader=_LineLoader)  # noqa: S506  (_LineLoader is a SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ValidationError(
                "{file} is not valid YAML: {err}",
                file=path.name,
                err=str(exc).splitlines()[0],
                details=[{"line": mark.line + 1 if mark else None, "message": str(exc)}],
            ) from None
        return import_document(session, actor, document, source=path.name)
    if suffix == ".csv":
        return import_csv(session, actor, text, source=path.name)
    raise ValidationError("Import .yaml, .yml or .csv files; {file} is none of these.", file=path.name)
