"""Record sets from files, for linking two sets that are not (yet) the node's records: a prosecutor's spreadsheet
against a seizure register, a partner's list against ours (``alianza match link``).

A set is a CSV with a header. Column names are taken in English or Spanish; every row is checked and a file with
any bad row is refused whole, each problem with its line, so the analyst fixes everything in one pass.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from alianza.errors import ValidationError, problem
from alianza.matching.names import normalize

COLUMNS = {
    "ref": "id", "record_id": "id", "referencia": "id",
    "name": "name", "nombre": "name",
    "birth_date": "birth_date", "fecha_nacimiento": "birth_date", "dob": "birth_date",
    "nationality": "country", "nacionalidad": "country", "country": "country", "pais": "country",
    "id": "ids", "identifier": "ids", "identificador": "ids", "rfc": "ids", "curp": "ids", "passport": "ids",
    "pasaporte": "ids",
    "address": "address", "domicilio": "address", "direccion": "address",
    "postcode": "postcode", "codigo_postal": "postcode", "cp": "postcode",
    "schema": "schema", "tipo": "schema",
}  # fmt: skip
SCHEMATA = {"person": "Person", "persona": "Person", "company": "Company", "empresa": "Company"}
MAX_RECORDS = 2_000_000


def csv_cells(
    text: str,
    filename: str,
    aliases: Mapping[str, str],
    problems: list[dict[str, Any]],
    header_problem: Callable[[int, list[str], list[str]], dict[str, Any] | None],
) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """The data rows of a CSV with a header, each as its line and its non-empty cells by column (``aliases`` maps
    a header, normalised, to its column). Problems go to ``problems``: a header ``header_problem`` objects to
    (nothing more is read), a row of the wrong width, malformed quoting."""
    reader = csv.reader(io.StringIO(text, newline=""))
    columns: list[str] = []
    line = 0
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(c.strip() for c in row):
                continue
            if not columns:
                columns = [aliases.get(normalize(c).replace(" ", "_"), "") for c in row]
                found = header_problem(start, row, columns)
                if found is not None:
                    problems.append(found)
                    return
                continue
            if len(row) != len(columns):
                problems.append(
                    problem(
                        filename,
                        "line {line}: expected {expected} columns, found {found}.",
                        line=start,
                        expected=len(columns),
                        found=len(row),
                    )
                )
                continue
            cells: dict[str, list[str]] = {}
            for key, cell in zip(columns, row, strict=True):
                if cell.strip():
                    cells.setdefault(key, []).append(cell.strip())
            yield start, cells
    except csv.Error as exc:
        problems.append(
            problem(
                filename,
                "line {line}: the CSV is malformed ({error}); check the quotes on this line.",
                line=line + 1,
                error=str(exc),
            )
        )


def read_record_set(data: bytes, filename: str, max_records: int = MAX_RECORDS) -> list[dict[str, Any]]:
    """The plain records (``resolution``'s shape) of a CSV; the row's ``ref`` or, without one, its line number
    is its id. A file of more than ``max_records`` records is refused (the web takes fewer than the CLI)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise ValidationError(
            "{file} is not a text file (it has NUL bytes); give a CSV with a header.",
            details=[problem(filename, "The file is binary.")],
            file=filename,
        )

    def header_problem(line: int, row: list[str], columns: list[str]) -> dict[str, Any] | None:
        unknown = [c for c, k in zip(row, columns, strict=True) if not k]
        if not unknown and "name" in columns:
            return None
        return problem(
            filename,
            "line {line}: the header needs a name column and only known columns ({known}); unknown: {columns}.",
            line=line,
            known="ref, name, birth_date, nationality, id, address, postcode, schema",
            columns=", ".join(unknown) or "-",
        )

    problems: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    rows = 0
    for line, cells in csv_cells(text, filename, COLUMNS, problems, header_problem):
        rows += 1
        record: dict[str, Any] = {k: v[0] for k, v in cells.items() if k != "ids"}
        record["ids"] = [x for v in cells.get("ids", []) for x in v.replace(";", " ").split()]
        if not record.get("name"):
            problems.append(problem(filename, "line {line}: the name is empty.", line=line))
            continue
        schema = SCHEMATA.get(normalize(record.get("schema", "person")))
        if schema is None:
            problems.append(problem(filename, "line {line}: the type must be person or company.", line=line))
            continue
        record["schema"] = schema
        record.setdefault("id", str(line))
        if record["id"] in seen:
            problems.append(
                problem(
                    filename,
                    "line {line}: the reference {ref} is also on line {other}.",
                    line=line,
                    ref=record["id"],
                    other=seen[record["id"]],
                )
            )
            continue
        seen[record["id"]] = line
        records.append(record)
        if len(records) > max_records:
            problems.append(problem(filename, "The file has more than {limit} records; split it.", limit=max_records))
            break
    if not rows and not problems:
        problems.append(problem(filename, "The file is empty; give a CSV with a header and one row per record."))
    if problems:
        raise ValidationError(
            "{file} has {count} problem(s); nothing was read.", details=problems, file=filename, count=len(problems)
        )
    return records
