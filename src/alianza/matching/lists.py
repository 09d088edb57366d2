"""Sanctions lists in the formats they are published in, and loading them.

Formats (``FORMATS``):

``ofac-csv``
    OFAC's legacy delimited files exactly as published (no header; ``"`` quotes; ``-0-`` is empty):
    ``sdn.csv`` (ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag,
    Vess_owner, Remarks), ``alt.csv`` (ent_num, alt_num, alt_type, alt_name, alt_remarks) and ``add.csv``
    (ent_num, add_num, address, city/state/zip, country, add_remarks); the consolidated list's ``cons_prim.csv``,
    ``cons_alt.csv`` and ``cons_add.csv`` are read the same. SDN_Type is ``individual``, ``vessel``, ``aircraft``
    or ``-0-`` (an entity). Individuals are named "LAST, First". The Remarks hold "DOB 17 Jul 1966; alt. DOB
    1964; POB ...; nationality Mexico; citizen Mexico; Passport X (Mexico); C.U.R.P. X (Mexico); a.k.a. 'EL
    MENCHO'" — weak aliases live there, quoted, as OFAC's data specification says.
``uif-csv``
    Mexico's UIF *Lista de Personas Bloqueadas* as a CSV with this header (comma or semicolon; UTF-8)::

        nombre,tipo,rfc,curp,fecha_nacimiento,nacionalidad,alias,fecha_inclusion,fundamento

    ``nombre`` and ``tipo`` (``persona física`` | ``persona moral``) and ``fecha_inclusion`` are required;
    ``rfc`` (13 characters for a persona física, 12 for a moral) and ``curp`` (18, personas físicas only) are
    checked; dates are ``AAAA-MM-DD`` or ``DD/MM/AAAA`` (for a persona moral ``fecha_nacimiento`` is its date of
    incorporation); ``nacionalidad`` is a country name, code or Spanish demonym (``mexicana``), several separated
    by ``;``; ``alias`` holds aliases separated by ``;`` (one led by an article, "El Mencho", is a nickname);
    ``fundamento`` is the legal basis. An entry's id is its RFC, else its CURP, else a hash of name and birth date.
``ftm-jsonl``
    FollowTheMoney entities, one JSON object a line (``id``, ``schema``, ``properties``): Person, Organization,
    Company, LegalEntity are listed; other schemata (Sanction, Address, … of an OpenSanctions export) are counted
    and skipped; nested entities inside properties are ignored.

Every parser checks every line and reports every problem with its file and line ("sdn.csv line 12: expected 12
columns, found 9"); a list with any problem is refused whole and nothing is written. ``load_list`` replaces a
list's entries in the caller's transaction, audited, and can re-screen the stored records against the new version.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from followthemoney import model as ftm_model
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.trail import AuditTrail
from alianza.errors import ValidationError, problem
from alianza.matching.names import ALIAS_ARTICLES, normalize
from alianza.matching.screening import Entry, Identifier, RescreenReport, country_code, rescreen
from alianza.matching.screening_models import ListEntry, SanctionsList
from alianza.store.db import utcnow

OFAC = "ofac-csv"
UIF = "uif-csv"
FTM = "ftm-jsonl"
FORMATS = (OFAC, UIF, FTM)
MAX_PROBLEMS = 100
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

# --- files ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFile:
    """One file of a list as it was published: its name (which tells its role) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: str | Path) -> ListFile:
        p = Path(path)
        return cls(p.name, p.read_bytes())

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def list_version(fmt: str, files: Sequence[ListFile]) -> str:
    """A list's version: the hash of its format and its files' contents (file order and names do not matter)."""
    digest = hashlib.sha256(fmt.encode())
    for sha in sorted(f.sha256 for f in files):
        digest.update(bytes.fromhex(sha))
    return digest.hexdigest()


@dataclass
class ParsedList:
    """A list's entries, parsed and checked, with its version."""

    format: str
    entries: list[Entry]
    version: str
    files: list[dict[str, Any]]
    skipped: int = 0  # FtM entities of schemata that are not listed people or organisations


Problems = list[dict[str, Any]]


def _report(problems: Problems, file: str, line: int | None, template: str, **params: Any) -> None:
    """One problem of a list's files; ``template`` starts with "line {line}: " when it is on a line (the msgid
    says it whole)."""
    problems.append(problem(file, template, line=line, **params))


def _raise_if_any(problems: Problems, name: str) -> None:
    """Refuse the list with every problem found (the first hundred listed), so all can be fixed at once."""
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(problem(None, "… and {more} more problem(s).", more=len(problems) - MAX_PROBLEMS))
    raise ValidationError(
        "The list {name} was not loaded and nothing was changed: {count} problem(s) in {files}, each with its line.",
        details=shown,
        name=name,
        count=len(problems),
        files=", ".join(dict.fromkeys(str(p["field"]) for p in problems if p["field"])),
    )


def _text(file: ListFile, problems: Problems) -> str | None:
    if b"\x00" in file.data:
        line = file.data[: file.data.index(b"\x00")].count(b"\n") + 1
        _report(
            problems,
            file.name,
            line,
            "line {line}: a NUL byte: this is not a text file (a spreadsheet or an archive?); "
            "give the CSV or JSON lines as published.",
        )
        return None
    try:
        return file.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return file.data.decode("cp1252", errors="replace")  # OFAC's older files are Windows-1252


def _rows(file: ListFile, text: str, problems: Problems, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the line each starts on; a quoted field may span lines. Blank lines and OFAC's closing
    Ctrl-Z are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            _report(
                problems,
                file.name,
                start,
                "line {line}: the CSV is malformed ({error}); check the quotes on this line.",
                error=str(exc),
            )
            return
        end = reader.line_num
        if not row or all(not c.strip() or c.strip() == "\x1a" for c in row):
            continue
        yield start, row


def _null(value: str) -> str:
    value = value.strip()
    return "" if value == "-0-" else value


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


# --- OFAC legacy CSV --------------------------------------------------------------------------------------------

_OFAC_ROLES = {
    "sdn.csv": "sdn", "alt.csv": "alt", "add.csv": "add",
    "cons_prim.csv": "sdn", "cons_alt.csv": "alt", "cons_add.csv": "add",
}  # fmt: skip
_SDN_TYPES = {"individual": "Person", "vessel": "Vessel", "aircraft": "Airplane", "": "Organization"}
_ALT_TYPES = frozenset({"aka", "fka", "nka"})
_MONTHS = {
    m: i
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)
}
_OFAC_DATE = re.compile(r"^(?:(\d{1,2})\s+)?(?:([A-Za-z]{3})[a-z]*\.?\s+)?(\d{4})$")
_WEAK_AKA = re.compile(r"^(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s*['\"‘’“”](.+?)['\"‘’“”]\.?$", re.IGNORECASE)
_PLAIN_AKA = re.compile(r"^(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s+(.+?)\.?$", re.IGNORECASE)
_ID_KINDS = (
    ("C.U.R.P.", "curp"), ("CURP", "curp"), ("R.F.C.", "rfc"), ("RFC", "rfc"), ("Passport", "passport"),
    ("Cedula No.", "cedula"), ("National ID No.", "national_id"), ("SSN", "ssn"), ("Tax ID No.", "tax_id"),
    ("NIT #", "nit"), ("D.N.I.", "dni"), ("Identification Number", "id"), ("Driver's License No.", "driving_license"),
    ("Registration ID", "registration"), ("Business Registration Number", "registration"),
    ("Electoral Registry No.", "electoral"), ("Citizen's Card Number", "id"), ("Personal ID Card", "id"),
)  # fmt: skip


def _ofac_dates(text: str) -> list[str]:
    """ISO dates of an OFAC DOB: "17 Jul 1966", "Jul 1966", "1966", "circa 1966", "1964 to 1966"."""
    text = re.sub(r"^(circa|approximately)\s+", "", text.strip().rstrip("."), flags=re.IGNORECASE)
    parts = [p.strip() for p in re.split(r"\s+to\s+", text)]
    out: list[str] = []
    for part in parts:
        found = _OFAC_DATE.match(part)
        if not found:
            continue
        day, month, year = found.groups()
        iso = year
        if month and month[:3].lower() in _MONTHS:
            iso += f"-{_MONTHS[month[:3].lower()]:02d}"
            if day:
                iso += f"-{int(day):02d}"
        out.append(iso)
    if len(out) == 2 and len(out[0]) == len(out[1]) == 4 and 0 < int(out[1]) - int(out[0]) <= 5:
        out = [str(y) for y in range(int(out[0]), int(out[1]) + 1)]  # a range of years: each is as likely
    return out


@dataclass
class _Remarks:
    birth_dates: list[str] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)
    weak_aliases: list[str] = field(default_factory=list)


def parse_ofac_remarks(remarks: str) -> _Remarks:
    """What OFAC's Remarks say about an entry: dates of birth, nationalities, identifiers, weak aliases."""
    out = _Remarks()
    for raw in re.split(r";\s*", remarks.strip()):
        part = raw.strip().rstrip(".").strip()
        plain = re.sub(r"^alt\.\s+", "", part, flags=re.IGNORECASE)
        lower = plain.lower()
        weak = _WEAK_AKA.match(part + ("." if part.endswith(("'", '"')) else ""))
        if weak or lower.startswith(("a.k.a.", "f.k.a.", "n.k.a.")):
            found = weak or _PLAIN_AKA.match(part)
            if found and found.group(1).strip():
                out.weak_aliases.append(found.group(1).strip())
        elif lower.startswith("dob "):
            out.birth_dates.extend(_ofac_dates(plain[4:]))
        elif lower.startswith(("nationality ", "citizen ")):
            code = country_code(plain.split(" ", 1)[1])
            if code:
                out.nationalities.append(code)
        else:
            for label, kind in _ID_KINDS:
                if plain.startswith(label + " "):
                    rest = plain[len(label) :].strip()
                    country = ""
                    paren = re.search(r"\(([^)]*)\)", rest)
                    if paren:
                        country = country_code(paren.group(1)) or ""
                    value = rest.split(" ")[0].strip(",")
                    if value:
                        out.identifiers.append(Identifier(kind, value, country))
                    break
    return out


def parse_ofac(files: Sequence[ListFile], name: str = "ofac") -> list[Entry]:
    """Entries of OFAC's ``sdn.csv`` with the aliases of ``alt.csv`` and the addresses of ``add.csv``."""
    problems: Problems = []
    roles: dict[str, ListFile] = {}
    for f in files:
        role = _OFAC_ROLES.get(Path(f.name).name.lower())
        if role is None:
            _report(
                problems,
                f.name,
                None,
                "is not one of OFAC's files; give sdn.csv with alt.csv and add.csv (or "
                "cons_prim.csv, cons_alt.csv, cons_add.csv).",
            )
        elif role in roles:
            _report(problems, f.name, None, "given twice; give each of OFAC's files once.")
        else:
            roles[role] = f
    if "sdn" not in roles and not problems:
        _report(
            problems,
            files[0].name if files else "sdn.csv",
            None,
            "an OFAC list needs sdn.csv (alt.csv and add.csv are optional).",
        )
    _raise_if_any(problems, name)
    sdn = roles["sdn"]
    base: dict[int, dict[str, Any]] = {}
    first_line: dict[int, int] = {}
    text = _text(sdn, problems)
    for line, row in _rows(sdn, text, problems) if text is not None else ():
        if line == 1 and row and row[0].strip().lower() == "ent_num":
            continue  # a header someone added; OFAC publishes none
        if len(row) != 12:
            _report(problems, sdn.name, line, "line {line}: expected 12 columns, found {found}.", found=len(row))
            continue
        ent = _int(row[0])
        if ent is None:
            _report(
                problems,
                sdn.name,
                line,
                "line {line}: ent_num must be a whole number, found '{value}'.",
                value=row[0].strip(),
            )
            continue
        if ent in first_line:
            _report(
                problems,
                sdn.name,
                line,
                "line {line}: ent_num {ent} is already on line {first}.",
                ent=ent,
                first=first_line[ent],
            )
            continue
        first_line[ent] = line
        sdn_name = _null(row[1])
        sdn_type = _null(row[2]).lower()
        if not sdn_name:
            _report(problems, sdn.name, line, "line {line}: SDN_Name is empty.")
        if sdn_type not in _SDN_TYPES:
            _report(
                problems,
                sdn.name,
                line,
                "line {line}: SDN_Type must be individual, vessel, aircraft or -0- (an entity), found '{value}'.",
                value=row[2].strip(),
            )
            continue
        program = _null(row[3])
        programs = [p.strip(" []") for p in re.split(r"\]\s*\[", program) if p.strip(" []")]
        remarks = _null(row[11])
        base[ent] = {
            "schema": _SDN_TYPES[sdn_type],
            "names": [sdn_name],
            "programs": programs,
            "remarks": remarks,
            "addresses": [],
            "parsed": parse_ofac_remarks(remarks),
            "flag": _null(row[9]),
        }
    if "alt" in roles:
        alt = roles["alt"]
        text = _text(alt, problems)
        seen: dict[tuple[int, int], int] = {}
        for line, row in _rows(alt, text, problems) if text is not None else ():
            if line == 1 and row and row[0].strip().lower() == "ent_num":
                continue
            if len(row) != 5:
                _report(problems, alt.name, line, "line {line}: expected 5 columns, found {found}.", found=len(row))
                continue
            ent, alt_num = _int(row[0]), _int(row[1])
            if ent is None or alt_num is None:
                _report(
                    problems,
                    alt.name,
                    line,
                    "line {line}: ent_num and alt_num must be whole numbers, found '{ent}' and '{alt}'.",
                    ent=row[0].strip(),
                    alt=row[1].strip(),
                )
                continue
            if (ent, alt_num) in seen:
                _report(
                    problems,
                    alt.name,
                    line,
                    "line {line}: alt_num {alt} of ent_num {ent} is already on line {first}.",
                    alt=alt_num,
                    ent=ent,
                    first=seen[(ent, alt_num)],
                )
                continue
            seen[(ent, alt_num)] = line
            kind = _null(row[2]).lower().replace(".", "")
            if kind not in _ALT_TYPES:
                _report(
                    problems,
                    alt.name,
                    line,
                    "line {line}: alt_type must be aka, fka or nka, found '{value}'.",
                    value=row[2].strip(),
                )
            alt_name = _null(row[3])
            if not alt_name:
                _report(problems, alt.name, line, "line {line}: alt_name is empty.")
            if ent not in base:
                if ent not in first_line:
                    _report(
                        problems, alt.name, line, "line {line}: ent_num {ent} is not in {sdn}.", ent=ent, sdn=sdn.name
                    )
                continue
            if alt_name and alt_name not in base[ent]["names"]:
                base[ent]["names"].append(alt_name)
    if "add" in roles:
        add = roles["add"]
        text = _text(add, problems)
        for line, row in _rows(add, text, problems) if text is not None else ():
            if line == 1 and row and row[0].strip().lower() == "ent_num":
                continue
            if len(row) != 6:
                _report(problems, add.name, line, "line {line}: expected 6 columns, found {found}.", found=len(row))
                continue
            ent, add_num = _int(row[0]), _int(row[1])
            if ent is None or add_num is None:
                _report(
                    problems,
                    add.name,
                    line,
                    "line {line}: ent_num and add_num must be whole numbers, found '{ent}' and '{add}'.",
                    ent=row[0].strip(),
                    add=row[1].strip(),
                )
                continue
            if ent not in base:
                if ent not in first_line:
                    _report(
                        problems, add.name, line, "line {line}: ent_num {ent} is not in {sdn}.", ent=ent, sdn=sdn.name
                    )
                continue
            address = ", ".join(p for p in (_null(row[2]), _null(row[3]), _null(row[4])) if p)
            if address:
                base[ent]["addresses"].append(address)
    _raise_if_any(problems, name)
    entries: list[Entry] = []
    for ent, data in sorted(base.items()):
        parsed: _Remarks = data["parsed"]
        nationalities = list(dict.fromkeys(parsed.nationalities))
        if data["schema"] == "Vessel" and data["flag"] and (code := country_code(data["flag"])):
            nationalities.append(code)
        entries.append(
            Entry(
                external_id=str(ent),
                schema=data["schema"],
                names=tuple(data["names"]),
                weak_aliases=tuple(dict.fromkeys(parsed.weak_aliases)),
                birth_dates=tuple(dict.fromkeys(parsed.birth_dates)),
                nationalities=tuple(nationalities),
                identifiers=tuple(parsed.identifiers),
                programs=tuple(data["programs"]),
                addresses=tuple(data["addresses"]),
                remarks=data["remarks"],
                list_name=name,
            )
        )
    return entries


# --- UIF CSV ----------------------------------------------------------------------------------------------------

UIF_COLUMNS = (
    "nombre",
    "tipo",
    "rfc",
    "curp",
    "fecha_nacimiento",
    "nacionalidad",
    "alias",
    "fecha_inclusion",
    "fundamento",
)
UIF_REQUIRED = ("nombre", "tipo", "fecha_inclusion")
_RFC_FISICA = re.compile(r"^[A-ZÑ&]{4}\d{6}[A-Z0-9]{3}$")
_RFC_MORAL = re.compile(r"^[A-ZÑ&]{3}\d{6}[A-Z0-9]{3}$")
_CURP = re.compile(r"^[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{2}[B-DF-HJ-NP-TV-Z]{3}[A-Z0-9]\d$")
_TIPOS = {"persona fisica": "Person", "fisica": "Person", "persona moral": "Organization", "moral": "Organization"}


def _uif_date(value: str) -> str | None:
    """``AAAA-MM-DD`` or ``DD/MM/AAAA`` as ISO; None when it is neither or no real date."""
    text = value.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    return None


def parse_uif(file: ListFile, name: str = "uif") -> list[Entry]:
    """Entries of a UIF *Lista de Personas Bloqueadas* CSV (header: ``UIF_COLUMNS``)."""
    problems: Problems = []
    text = _text(file, problems)
    _raise_if_any(problems, name)
    assert text is not None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    columns: list[str] = []
    entries: list[Entry] = []
    first_line: dict[str, int] = {}
    for line, row in _rows(file, text, problems, delimiter):
        if not columns:
            columns = [normalize(c).replace(" ", "_") for c in row]
            missing = [c for c in UIF_REQUIRED if c not in columns]
            unknown = [raw.strip() for raw, c in zip(row, columns, strict=True) if c not in UIF_COLUMNS]
            if missing or unknown:
                _report(
                    problems,
                    file.name,
                    line,
                    "line {line}: the header must be {header} (missing: {missing}; unknown: {unknown}).",
                    header=",".join(UIF_COLUMNS),
                    missing=", ".join(missing) or "none",
                    unknown=", ".join(unknown) or "none",
                )
                break
            continue
        if len(row) != len(columns):
            _report(
                problems,
                file.name,
                line,
                "line {line}: expected {expected} columns, found {found}.",
                expected=len(columns),
                found=len(row),
            )
            continue
        cell = {c: v.strip() for c, v in zip(columns, row, strict=True)}
        before = len(problems)
        nombre = cell.get("nombre", "")
        if not nombre:
            _report(problems, file.name, line, "line {line}: nombre is empty.")
        schema = _TIPOS.get(normalize(cell.get("tipo", "")))
        if schema is None:
            _report(
                problems,
                file.name,
                line,
                "line {line}: tipo must be 'persona física' or 'persona moral', found '{value}'.",
                value=cell.get("tipo", ""),
            )
        rfc = cell.get("rfc", "").upper().replace(" ", "").replace("-", "")
        if rfc and schema is not None:
            pattern = _RFC_FISICA if schema == "Person" else _RFC_MORAL
            if not pattern.match(rfc):
                _report(
                    problems,
                    file.name,
                    line,
                    "line {line}: rfc '{value}' is not an RFC of a {tipo} ({length} characters: letters, date "
                    "AAMMDD, homoclave).",
                    value=rfc,
                    tipo=cell.get("tipo", ""),
                    length=13 if schema == "Person" else 12,
                )
        curp = cell.get("curp", "").upper().replace(" ", "")
        if curp:
            if schema == "Organization":
                _report(problems, file.name, line, "line {line}: a persona moral has no CURP.")
            elif not _CURP.match(curp):
                _report(
                    problems, file.name, line, "line {line}: curp '{value}' is not a CURP (18 characters).", value=curp
                )
        birth = ""
        if cell.get("fecha_nacimiento"):
            birth = _uif_date(cell["fecha_nacimiento"]) or ""
            if not birth:
                _report(
                    problems,
                    file.name,
                    line,
                    "line {line}: fecha_nacimiento '{value}' is not a date (AAAA-MM-DD or DD/MM/AAAA).",
                    value=cell["fecha_nacimiento"],
                )
        inclusion = _uif_date(cell.get("fecha_inclusion", ""))
        if not inclusion:
            _report(
                problems,
                file.name,
                line,
                "line {line}: fecha_inclusion '{value}' is not a date (AAAA-MM-DD or DD/MM/AAAA).",
                value=cell.get("fecha_inclusion", ""),
            )
        nationalities: list[str] = []
        for value in (v for v in cell.get("nacionalidad", "").split(";") if v.strip()):
            code = country_code(value)
            if code is None:
                _report(
                    problems,
                    file.name,
                    line,
                    "line {line}: nacionalidad '{value}' is not a country.",
                    value=value.strip(),
                )
            else:
                nationalities.append(code)
        if len(problems) > before or schema is None:
            continue
        aliases = [a.strip() for a in cell.get("alias", "").split(";") if a.strip()]
        strong = [a for a in aliases if normalize(a).split()[:1] and normalize(a).split()[0] not in ALIAS_ARTICLES]
        weak = [a for a in aliases if a not in strong]
        external = rfc or curp or "uif-" + hashlib.sha256(f"{normalize(nombre)}|{birth}".encode()).hexdigest()[:16]
        if external in first_line:
            _report(
                problems,
                file.name,
                line,
                "line {line}: the same entry as line {first} (same RFC, CURP or name and birth date).",
                first=first_line[external],
            )
            continue
        first_line[external] = line
        identifiers = [Identifier("rfc", rfc, "mx")] if rfc else []
        identifiers += [Identifier("curp", curp, "mx")] if curp else []
        remarks = "; ".join(
            p
            for p in (
                f"Fecha de inclusión {inclusion}",
                cell.get("fundamento", "") and f"Fundamento: {cell.get('fundamento', '')}",
            )
            if p
        )
        entries.append(
            Entry(
                external_id=external,
                schema=schema,
                names=(nombre, *strong),
                weak_aliases=tuple(weak),
                birth_dates=(birth,) if birth else (),
                nationalities=tuple(dict.fromkeys(nationalities)),
                identifiers=tuple(identifiers),
                programs=(cell["fundamento"],) if cell.get("fundamento") else (),
                remarks=remarks,
                list_name=name,
            )
        )
    if not columns and not problems:
        _report(
            problems,
            file.name,
            None,
            "the file is empty; the first line is the header {header}.",
            header=",".join(UIF_COLUMNS),
        )
    _raise_if_any(problems, name)
    return entries


# --- FollowTheMoney JSON lines --------------------------------------------------------------------------------

FTM_LISTED = frozenset({"Person", "Organization", "Company", "LegalEntity"})
_FTM_IDS = (
    "idNumber",
    "passportNumber",
    "taxNumber",
    "registrationNumber",
    "socialSecurityNumber",
    "innCode",
    "ogrnCode",
    "leiCode",
    "vatCode",
    "licenseNumber",
    "swiftBic",
)


def parse_ftm(file: ListFile, name: str = "ftm") -> tuple[list[Entry], int]:
    """Entries of FtM entities, one JSON object a line; also the count of entities of other schemata skipped."""
    problems: Problems = []
    text = _text(file, problems)
    _raise_if_any(problems, name)
    assert text is not None
    entries: list[Entry] = []
    skipped = 0
    first_line: dict[str, int] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            _report(
                problems,
                file.name,
                line,
                "line {line}: not JSON ({error}); each line is one FtM entity.",
                error=exc.msg,
            )
            continue
        if not isinstance(data, dict):
            _report(
                problems, file.name, line, "line {line}: a JSON {kind}, not an entity object.", kind=type(data).__name__
            )
            continue
        entity_id, schema_name, props = data.get("id"), data.get("schema"), data.get("properties")
        if not isinstance(entity_id, str) or not entity_id.strip():
            _report(problems, file.name, line, "line {line}: the entity has no id.")
            continue
        schema = ftm_model.get(schema_name) if isinstance(schema_name, str) else None
        if schema is None:
            _report(
                problems,
                file.name,
                line,
                "line {line}: '{schema}' is not a FollowTheMoney schema.",
                schema=str(schema_name),
            )
            continue
        if not isinstance(props, dict):
            _report(problems, file.name, line, "line {line}: properties must be an object of lists of strings.")
            continue
        if schema.name not in FTM_LISTED:
            skipped += 1
            continue
        values: dict[str, list[str]] = {}
        bad = False
        for prop, raw_values in props.items():
            if schema.get(prop) is None:
                _report(
                    problems,
                    file.name,
                    line,
                    "line {line}: {schema} has no property '{prop}'.",
                    schema=schema.name,
                    prop=prop,
                )
                bad = True
                continue
            items = raw_values if isinstance(raw_values, list) else [raw_values]
            strings = []
            for item in items:
                if isinstance(item, dict):
                    continue  # a nested entity (OpenSanctions' nested export): not a value of this one
                if not isinstance(item, str):
                    _report(
                        problems,
                        file.name,
                        line,
                        "line {line}: {prop} holds {kind} values; FtM values are strings.",
                        prop=prop,
                        kind=type(item).__name__,
                    )
                    bad = True
                    break
                if item.strip():
                    strings.append(item.strip())
            values[prop] = strings
        names = values.get("name", [])
        if not names and not bad:
            _report(problems, file.name, line, "line {line}: the entity {id} has no name.", id=entity_id)
            bad = True
        if entity_id in first_line:
            _report(
                problems,
                file.name,
                line,
                "line {line}: the entity {id} is already on line {first}.",
                id=entity_id,
                first=first_line[entity_id],
            )
            bad = True
        if bad:
            continue
        first_line[entity_id] = line
        nationality_props = ("nationality", "citizenship") if schema.name == "Person" else ("jurisdiction", "country")
        countries = [c for p in nationality_props for v in values.get(p, []) if (c := country_code(v))]
        entries.append(
            Entry(
                external_id=entity_id.strip()[:64],
                schema="Person" if schema.name == "Person" else schema.name,
                names=tuple(dict.fromkeys([*names, *values.get("alias", []), *values.get("previousName", [])])),
                weak_aliases=tuple(values.get("weakAlias", [])),
                birth_dates=tuple(values.get("birthDate", []) or values.get("incorporationDate", [])),
                nationalities=tuple(dict.fromkeys(countries)),
                identifiers=tuple(Identifier(p, v) for p in _FTM_IDS for v in values.get(p, [])),
                programs=tuple(values.get("program", []) or values.get("programId", [])),
                addresses=tuple(values.get("address", [])),
                remarks="; ".join(values.get("notes", []) or values.get("summary", [])),
                list_name=name,
            )
        )
    if not entries and not problems:
        _report(problems, file.name, None, "no Person, Organization or Company entity in the file.")
    _raise_if_any(problems, name)
    return entries, skipped


# --- any format -----------------------------------------------------------------------------------------------


def detect_format(files: Sequence[ListFile]) -> str:
    """The format of a list's files, from their names: OFAC's file names, ``.jsonl``/``.json`` (FtM), else a
    ``.csv`` is the UIF's."""
    names = [Path(f.name).name.lower() for f in files]
    if any(n in _OFAC_ROLES for n in names):
        return OFAC
    if names and all(n.endswith((".jsonl", ".json", ".ftm", ".ijson")) for n in names):
        return FTM
    if len(names) == 1 and names[0].endswith((".csv", ".txt")):
        return UIF
    raise ValidationError(
        "Cannot tell the format of {files}; name OFAC's files sdn.csv, alt.csv, add.csv, or give the format "
        "({formats}).",
        files=", ".join(f.name for f in files) or "no files",
        formats=", ".join(FORMATS),
    )


def parse_list(files: Sequence[ListFile], fmt: str | None = None, name: str = "list") -> ParsedList:
    """Parse and check a list's files (all or nothing); ``fmt`` is detected from the file names when None."""
    if not files:
        raise ValidationError("Give the list's files.")
    fmt = fmt or detect_format(files)
    skipped = 0
    if fmt == OFAC:
        entries = parse_ofac(files, name)
    elif fmt in (UIF, FTM):
        if len(files) != 1:
            raise ValidationError("A {format} list is one file; {count} were given.", format=fmt, count=len(files))
        if fmt == UIF:
            entries = parse_uif(files[0], name)
        else:
            entries, skipped = parse_ftm(files[0], name)
    else:
        raise ValidationError(
            "Unknown list format '{format}'; use one of {formats}.", format=fmt, formats=", ".join(FORMATS)
        )
    return ParsedList(
        format=fmt,
        entries=entries,
        version=list_version(fmt, files),
        files=[{"name": f.name, "sha256": f.sha256, "bytes": len(f.data)} for f in files],
        skipped=skipped,
    )


# --- loading ----------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What loading a list changed."""

    name: str
    format: str
    version: str
    previous_version: str | None
    entries: int
    added: list[str] = field(default_factory=list)  # external ids
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: int = 0
    rescreen: RescreenReport | None = None

    @property
    def unchanged(self) -> bool:
        return self.version == self.previous_version

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "version": self.version,
            "previous_version": self.previous_version,
            "entries": self.entries,
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "skipped": self.skipped,
            "unchanged": self.unchanged,
            "rescreen": self.rescreen.summary() if self.rescreen else None,
        }


def _entry_row(list_id: int, entry: Entry) -> dict[str, Any]:
    return {
        "list_id": list_id,
        "external_id": entry.external_id,
        "schema": entry.schema,
        "caption": entry.caption[:500],
        "names": list(entry.names),
        "weak_aliases": list(entry.weak_aliases),
        "birth_dates": list(entry.birth_dates),
        "nationalities": list(entry.nationalities),
        "identifiers": [i.as_dict() for i in entry.identifiers],
        "programs": list(entry.programs),
        "addresses": list(entry.addresses),
        "remarks": entry.remarks,
        "fingerprint": entry.fingerprint(),
    }


def load_list(
    session: Session,
    actor: User,
    trail: AuditTrail,
    name: str,
    *files: ListFile | str | Path,
    fmt: str | None = None,
    source: str = "",
    rescreen_records: bool = False,
) -> LoadReport:
    """Load (or reload) the list ``name`` from its files, replacing its entries, in the caller's transaction.

    The same files again change nothing. A new version replaces every entry; the report says which were added,
    removed and changed, and, with ``rescreen_records``, which hits of the stored records appeared and went.
    """
    require(actor, Permission.EDIT_RECORDS)
    if not NAME_PATTERN.match(name):
        raise ValidationError(
            "A list name is 1 to 64 lower-case letters, digits, '.', '_' or '-' (e.g. ofac-sdn, uif-lpb); "
            "'{name}' is not.",
            name=name,
        )
    given = [f if isinstance(f, ListFile) else ListFile.read(f) for f in files]
    parsed = parse_list(given, fmt, name)
    if len(source) > 200:
        raise ValidationError("The source is {length} characters long; keep it under 200.", length=len(source))
    existing = session.scalars(select(SanctionsList).where(SanctionsList.name == name)).one_or_none()
    report = LoadReport(
        name=name,
        format=parsed.format,
        version=parsed.version,
        previous_version=existing.version if existing else None,
        entries=len(parsed.entries),
        skipped=parsed.skipped,
    )
    if existing is not None and existing.version == parsed.version:
        return report
    old: dict[str, str] = {}
    if existing is None:
        existing = SanctionsList(name=name, format=parsed.format, version=parsed.version)
        session.add(existing)
        session.flush()
    else:
        current = select(ListEntry.external_id, ListEntry.fingerprint).where(ListEntry.list_id == existing.id)
        old = {external: fingerprint for external, fingerprint in session.execute(current)}
        session.execute(delete(ListEntry).where(ListEntry.list_id == existing.id))
    rows = [_entry_row(existing.id, e) for e in parsed.entries]
    for start in range(0, len(rows), 1000):
        session.execute(insert(ListEntry), rows[start : start + 1000])
    new = {r["external_id"]: r["fingerprint"] for r in rows}
    report.added = sorted(k for k in new if k not in old)
    report.removed = sorted(k for k in old if k not in new)
    report.changed = sorted(k for k in new if k in old and old[k] != new[k])
    existing.format = parsed.format
    existing.version = parsed.version
    existing.source = source or existing.source or ""
    existing.files = parsed.files
    existing.entry_count = len(rows)
    existing.loaded_at = utcnow()
    existing.loaded_by_id = actor.id
    session.flush()
    trail.append(
        session,
        actor,
        "screening.list_loaded",
        "sanctions_list",
        existing.name,
        {k: v for k, v in report.summary().items() if k != "rescreen"} | {"files": parsed.files},
    )
    if rescreen_records:
        report.rescreen = rescreen(session, actor, trail, name)
    return report


__all__ = [
    "FORMATS",
    "FTM",
    "OFAC",
    "UIF",
    "UIF_COLUMNS",
    "ListFile",
    "LoadReport",
    "ParsedList",
    "country_code",
    "detect_format",
    "list_version",
    "load_list",
    "parse_ftm",
    "parse_list",
    "parse_ofac",
    "parse_ofac_remarks",
    "parse_uif",
]
