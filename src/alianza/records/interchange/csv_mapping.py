"""CSV files from spreadsheets, read through a column mapping that names the FtM property of each column.

Agencies keep lists in spreadsheets whose headers are their own ("Nombre", "Fecha de nacimiento"), so the file is
read as it is and a small mapping (YAML or a dict) says what each column means:

.. code-block:: yaml

    schema: Person
    id_column: Folio                 # optional: lets other rows (or later files) link to these records
    columns: {Nombre: name, "Fecha de nacimiento": birthDate, Alias: alias}
    markings:                        # constants, or {column: Header} to read a value per row
      tlp: {column: Clasificación}
      handling: H2
    delimiter: ";"                   # Spanish-locale spreadsheets save with semicolons
    multi_value_separator: "|"       # several aliases in one cell
    date_formats: ["%d/%m/%Y"]       # day-first dates are converted before FtM checks them

Headers are matched ignoring case, surrounding spaces and Unicode normalisation, because the same "Fecha" can be
saved composed or decomposed depending on the operating system. Problems name the CSV line and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.trail import AuditTrail
from alianza.errors import ValidationError
from alianza.records.ftm import KINDS, model
from alianza.records.interchange import tlp
from alianza.records.interchange.common import (
    EMPTY_FILE,
    ImportSummary,
    Pending,
    Problems,
    build_input,
    create_all,
    finish,
    merge_markings,
)
from alianza.records.schemas import Markings

SOURCE = "CSV"
BOOLEAN_MARKINGS = frozenset({"sensitive_tied_to_crime", "personal_data", "us_person"})
LIST_MARKINGS = frozenset({"sensitive_categories"})
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "sí", "si", "s", "verdadero"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "falso"})

BAD_MAPPING = "The column mapping is not valid: {count} problem(s) listed below."
MISSING_COLUMN = "The file has no column '{column}', which the mapping names."
CSV_BROKEN = "The CSV could not be read here: {error}."
TOO_MANY_CELLS = "This row has {cells} cells but the header has {columns}."
NOT_YES_NO = "'{value}' is not yes or no."


class ColumnRef(BaseModel):
    """A marking read from a column of each row instead of a constant."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)


MarkingSpec = ColumnRef | bool | list[str] | str


class CsvMapping(BaseModel):
    """How to read one CSV file: the record kind, the column → property map and the markings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: str = Field(alias="schema")
    id_column: str | None = None
    columns: dict[str, str] = Field(min_length=1)
    markings: dict[str, MarkingSpec] = Field(default_factory=dict)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    multi_value_separator: str | None = Field(default=None, min_length=1)
    date_formats: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_names(self) -> CsvMapping:
        """Refuse a mapping that names a kind, property or marking that does not exist, before any row is read."""
        if self.schema_ not in KINDS:
            raise ValueError(f"Unknown record kind '{self.schema_}'; use one of: {', '.join(KINDS)}.")
        schema = model().get(self.schema_)
        assert schema is not None
        unknown = [prop for prop in self.columns.values() if schema.get(prop) is None]
        if unknown:
            raise ValueError(f"{self.schema_} has no propert(ies) {', '.join(sorted(set(unknown)))}.")
        fields = set(Markings.model_fields)
        bad = sorted(set(self.markings) - fields)
        if bad:
            raise ValueError(f"Unknown marking(s) {', '.join(bad)}; use: {', '.join(sorted(fields))}.")
        if self.multi_value_separator == self.delimiter:
            raise ValueError("The multi-value separator must differ from the delimiter.")
        return self


def load_mapping(source: str | Mapping[str, Any]) -> CsvMapping:
    """A mapping from YAML text or a dict, refused with one ``ValidationError`` listing what is wrong in it."""
    try:
        raw = yaml.safe_load(source) if isinstance(source, str) else dict(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        item = {"line": line, "field": None, "message": str(getattr(exc, "problem", None) or exc)}
        raise ValidationError(BAD_MAPPING, details=[item], count=1) from None
    try:
        return CsvMapping.model_validate(raw)
    except PydanticValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or None, "message": err["msg"]} for err in exc.errors()
        ]
        raise ValidationError(BAD_MAPPING, details=details, count=len(details)) from None


def _key(header: str) -> str:
    return unicodedata.normalize("NFC", header).strip().casefold()


def import_csv(
    session: Session,
    actor: User,
    trail: AuditTrail,
    country: str,
    text: str,
    mapping: CsvMapping,
    default_markings: Markings | None = None,
) -> ImportSummary:
    """Create one record per data row, or none: a ``ValidationError`` names each bad line and column.

    Line numbers are those of the file (the header is line 1), as a spreadsheet shows them. Run it inside
    ``node.db.transaction()`` so that an error rolls back the rows that had succeeded.
    """
    require(actor, Permission.EDIT_RECORDS)
    problems = Problems()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=mapping.delimiter)
    header = _read_header(reader, problems)
    positions = _positions(header, mapping, problems) if header is not None else None
    pending: list[Pending] = []
    if positions is not None:
        pending = _read_rows(reader, len(header or []), positions, mapping, default_markings, problems)
        if not pending and not problems:
            problems.add({"line": 2}, None, EMPTY_FILE)
    created = create_all(session, actor, trail, country, pending, problems)
    return finish(session, actor, trail, SOURCE, created, problems, ImportSummary())


def _read_header(reader: Any, problems: Problems) -> list[str] | None:
    try:
        header: list[str] = next(reader)
    except StopIteration:
        problems.add({"line": 1}, None, EMPTY_FILE)
        return None
    except csv.Error as exc:
        problems.add({"line": 1}, None, CSV_BROKEN, error=str(exc))
        return None
    return header


def _positions(header: list[str], mapping: CsvMapping, problems: Problems) -> dict[str, int] | None:
    """Where each column the mapping names sits in the header, keyed by the mapping's spelling."""
    index = {_key(name): i for i, name in enumerate(header)}
    wanted = list(mapping.columns)
    if mapping.id_column:
        wanted.append(mapping.id_column)
    wanted += [spec.column for spec in mapping.markings.values() if isinstance(spec, ColumnRef)]
    positions: dict[str, int] = {}
    for column in wanted:
        if _key(column) in index:
            positions[column] = index[_key(column)]
        else:
            problems.add({"line": 1}, column, MISSING_COLUMN, column=column)
    return None if problems else positions


def _read_rows(
    reader: Any,
    width: int,
    positions: dict[str, int],
    mapping: CsvMapping,
    defaults: Markings | None,
    problems: Problems,
) -> list[Pending]:
    pending: list[Pending] = []
    labels = {f"properties.{prop}": column for column, prop in mapping.columns.items()}
    labels |= {f"markings.{k}": s.column for k, s in mapping.markings.items() if isinstance(s, ColumnRef)}
    if mapping.id_column:
        labels["id"] = mapping.id_column
    while True:
        start = reader.line_num + 1
        try:
            row: list[str] = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add({"line": start}, None, CSV_BROKEN, error=str(exc))
            break
        if not any(cell.strip() for cell in row):
            continue
        where: dict[str, int | str] = {"line": start}
        if len(row) > width:
            problems.add(where, None, TOO_MANY_CELLS, cells=len(row), columns=width)
            continue

        def cell(column: str, row: list[str] = row) -> str:
            pos = positions[column]
            return row[pos].strip() if pos < len(row) else ""

        own = _row_markings(mapping, cell, where, problems)
        if own is None:
            continue
        entry = build_input(
            where,
            problems,
            schema=mapping.schema_,
            properties=_row_properties(mapping, cell),
            markings=merge_markings(own or None, defaults),
            record_id=cell(mapping.id_column) if mapping.id_column else None,
            labels=labels,
        )
        if entry is not None:
            pending.append(entry)
    return pending


def _row_properties(mapping: CsvMapping, cell: Callable[[str], str]) -> dict[str, list[str]]:
    schema = model().get(mapping.schema_)
    assert schema is not None
    properties: dict[str, list[str]] = {}
    for column, prop_name in mapping.columns.items():
        text = cell(column)
        if not text:
            continue
        values = text.split(mapping.multi_value_separator) if mapping.multi_value_separator else [text]
        prop = schema.get(prop_name)
        is_date = prop is not None and prop.type.name == "date"
        for value in (v.strip() for v in values):
            if value:
                properties.setdefault(prop_name, []).append(_as_iso_date(value, mapping) if is_date else value)
    return properties


def _as_iso_date(value: str, mapping: CsvMapping) -> str:
    """A date in one of the mapping's formats as ISO; otherwise unchanged, for FtM to accept or report."""
    for fmt in mapping.date_formats:
        try:
            return dt.datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    return value


def _row_markings(
    mapping: CsvMapping, cell: Callable[[str], str], where: dict[str, int | str], problems: Problems
) -> dict[str, Any] | None:
    """The row's markings from the mapping's constants and columns; None after reporting a bad cell."""
    own: dict[str, Any] = {}
    ok = True
    for name, spec in mapping.markings.items():
        if not isinstance(spec, ColumnRef):
            own[name] = spec
            continue
        text = cell(spec.column)
        if not text:
            continue  # an empty cell falls back to the default markings
        if name in BOOLEAN_MARKINGS:
            word = text.casefold()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                own[name] = word in TRUE_WORDS
            else:
                problems.add(where, spec.column, NOT_YES_NO, value=text)
                ok = False
        elif name in LIST_MARKINGS:
            separator = mapping.multi_value_separator or ","
            own[name] = [v.strip() for v in text.split(separator) if v.strip()]
        elif name == "tlp":
            own[name] = tlp.normalise(text) or text  # "TLP:AMBER", "amber" → "AMBER"; else let Markings say why
        else:
            own[name] = text
    return own if ok else None
