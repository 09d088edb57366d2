"""Comparison features cut by kind (names, dates, identifiers, country, place), each answering a *level*.

As in Splink, a comparison turns a pair of records into one of a few ordered levels, from the most to the least
alike, or ``NULL`` when one side does not say (a missing value is no evidence either way). The scoring model
(``resolution``) learns how much each level weighs; this module only says what level a pair is at.

Features run on *prepared* columns (``prepare``): each record is parsed once (``names.person_name_parts``,
dates split, identifiers cleaned) and every string is mapped to an integer of a ``Vocabulary`` shared by both
sides. A comparison over millions of candidate pairs is then NumPy equality on integer arrays, and the fuzzy
string measures (Jaro-Winkler, Damerau) run once per *distinct pair of values* through ``rapidfuzz``'s
vectorised ``cpdist`` — common names repeat, so that is far fewer calls than pairs.

``compare_records(a, b)`` gives the levels of a single pair by the same code path, for explanations and tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from alianza.matching.names import (
    NameParts,
    canonical_given,
    company_name,
    keys_of,
    normalize,
    person_name_parts,
    phonetic,
    same_given_name,
)

NULL = -1
IntArray = npt.NDArray[np.int64]
LevelArray = npt.NDArray[np.int8]
ORG_SCHEMATA = frozenset({"Company", "Organization", "LegalEntity", "PublicBody"})
_DATE = re.compile(r"^\s*(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?")
_DMY = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})\s*$")
_ID_CLEAN = re.compile(r"[^0-9A-Z]")


class Vocabulary:
    """Strings ↔ integers, shared by the two record sets so equal values get equal numbers. "" is -1."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.strings: list[str] = []

    def id(self, value: str) -> int:
        if not value:
            return NULL
        found = self.index.get(value)
        if found is None:
            found = len(self.strings)
            self.index[value] = found
            self.strings.append(value)
        return found

    def ids(self, values: Iterable[str]) -> IntArray:
        return np.fromiter((self.id(v) for v in values), dtype=np.int64)

    def measure(self, fn: Callable[[str], int]) -> IntArray:
        """``fn`` of every string, indexable by id (index -1, i.e. missing, reads the last entry: mask it)."""
        return np.fromiter((fn(x) for x in self.strings), dtype=np.int64, count=len(self.strings))


@dataclass
class Prepared:
    """One record set as columns; ``*_id`` arrays index ``vocab.strings`` (-1 = missing)."""

    record_ids: list[str]
    vocab: Vocabulary
    parts: list[NameParts]
    is_org: npt.NDArray[np.bool_]
    name_sorted: IntArray  # the name's words sorted: "exact normalised" regardless of order
    org_name: IntArray
    given_all: IntArray
    given_first: IntArray
    given_second: IntArray
    given_initial: IntArray
    paternal: IntArray
    maternal: IntArray
    paternal_ph: IntArray
    maternal_ph: IntArray
    year: IntArray
    month: IntArray
    day: IntArray
    dob: IntArray  # "YYYYMMDD" when complete
    id_first: IntArray
    id_sets: list[frozenset[str]]
    country: IntArray
    address: IntArray
    postcode: IntArray

    def __len__(self) -> int:
        return len(self.record_ids)

    def keys(self, i: int) -> frozenset[str]:
        return keys_of(self.parts[i])


def parse_date(value: Any) -> tuple[int, int, int]:
    """(year, month, day) with 0 for what the value does not say: "1980", "1980-05", "19800517", "17/05/1980"."""
    text = str(value or "").strip()
    if not text:
        return (0, 0, 0)
    dmy = _DMY.match(text)
    if dmy:
        return (int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
    found = _DATE.match(text)
    if not found:
        return (0, 0, 0)
    year = int(found.group(1))
    month = int(found.group(2) or 0)
    day = int(found.group(3) or 0)
    if not 1 <= month <= 12:
        month, day = 0, 0
    if not 1 <= day <= 31:
        day = 0
    return (year if 1000 <= year <= 2999 else 0, month, day)


def clean_identifier(value: str) -> str:
    return _ID_CLEAN.sub("", normalize(value).upper())


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(v) for v in value.values() if v]
    return [str(v) for v in value if v]


def record_name_parts(record: Mapping[str, Any]) -> NameParts:
    """The parts of a plain record's name: from ``given_name``/``surname`` columns when it has them (FEBRL,
    CSV imports), else parsed from ``name``."""
    if "given_name" in record or "surname" in record:
        given = tuple(normalize(str(record.get("given_name") or "")).split())
        surnames = normalize(str(record.get("surname") or "")).split()
        return NameParts(
            given=given,
            paternal=surnames[0] if surnames else "",
            maternal=surnames[1] if len(surnames) > 1 else "",
            extra_surnames=tuple(surnames[2:]),
        )
    names = _as_list(record.get("name"))
    return person_name_parts(names[0]) if names else NameParts()


def prepare(records: Sequence[Mapping[str, Any]], vocab: Vocabulary | None = None) -> Prepared:
    """Parse every record once into columns. Give both sides of a linkage the same ``vocab``."""
    vocab = vocab or Vocabulary()
    n = len(records)
    parts: list[NameParts] = []
    is_org = np.zeros(n, dtype=bool)
    cols: dict[str, list[str]] = {
        k: []
        for k in (
            "name_sorted", "org_name", "given_all", "given_first", "given_second", "given_initial", "paternal",
            "maternal", "paternal_ph", "maternal_ph", "dob", "id_first", "country", "address", "postcode",
        )
    }  # fmt: skip
    ymd = np.zeros((n, 3), dtype=np.int64)
    id_sets: list[frozenset[str]] = []
    for i, record in enumerate(records):
        org = str(record.get("schema") or "Person") in ORG_SCHEMATA
        is_org[i] = org
        names = _as_list(record.get("name"))
        if org:
            p = NameParts()
            cols["org_name"].append(company_name(names[0]) if names else "")
        else:
            p = record_name_parts(record)
            cols["org_name"].append("")
        parts.append(p)
        cols["name_sorted"].append(" ".join(sorted(p.tokens)) if not org else cols["org_name"][-1])
        cols["given_all"].append(p.given_text)
        cols["given_first"].append(p.given[0] if p.given else "")
        cols["given_second"].append(p.given[1] if len(p.given) > 1 else "")
        cols["given_initial"].append(p.given[0][0] if p.given else "")
        cols["paternal"].append(p.paternal)
        cols["maternal"].append(p.maternal)
        cols["paternal_ph"].append("~" + phonetic(p.paternal) if p.paternal else "")
        cols["maternal_ph"].append("~" + phonetic(p.maternal) if p.maternal else "")
        y, m, d = parse_date(_first(record.get("birth_date")))
        ymd[i] = (y, m, d)
        cols["dob"].append(f"{y:04d}{m:02d}{d:02d}" if y and m and d else "")
        ids = [clean_identifier(v) for v in _as_list(record.get("ids"))]
        ids = [v for v in ids if v]
        id_sets.append(frozenset(ids))
        cols["id_first"].append(ids[0] if ids else "")
        cols["country"].append(normalize(_first(record.get("country"))))
        street = " ".join(str(record.get(k) or "") for k in ("street_number", "address"))
        cols["address"].append(normalize(street))
        cols["postcode"].append(normalize(str(record.get("postcode") or "")).replace(" ", ""))
    arrays = {k: vocab.ids(v) for k, v in cols.items()}
    return Prepared(
        record_ids=[str(r.get("id", i)) for i, r in enumerate(records)],
        vocab=vocab,
        parts=parts,
        is_org=is_org,
        year=ymd[:, 0].copy(),
        month=ymd[:, 1].copy(),
        day=ymd[:, 2].copy(),
        id_sets=id_sets,
        **arrays,
    )


def _first(value: Any) -> str:
    values = _as_list(value)
    return values[0] if values else ""


# --- vectorised helpers ---------------------------------------------------------------------------------------


def _pair_measure(
    vocab: Vocabulary,
    a: IntArray,
    b: IntArray,
    scorer: Callable[..., Any],
) -> npt.NDArray[np.float32]:
    """``scorer`` on each pair of vocabulary strings, computed once per distinct pair; NaN where one is missing."""
    out = np.full(len(a), np.nan, dtype=np.float32)
    present = (a >= 0) & (b >= 0)
    if not present.any():
        return out
    width = np.int64(len(vocab.strings) + 1)
    combos = a[present] * width + b[present]
    unique, inverse = np.unique(combos, return_inverse=True)
    strings = vocab.strings
    left = [strings[int(k // width)] for k in unique]
    right = [strings[int(k % width)] for k in unique]
    scores = cpdist(left, right, scorer=scorer, dtype=np.float32, workers=-1)
    out[present] = np.asarray(scores, dtype=np.float32)[inverse]
    return out


def _pair_predicate(
    vocab: Vocabulary,
    a: IntArray,
    b: IntArray,
    fn: Callable[[str, str], bool],
    where: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """A Python predicate on each distinct pair of vocabulary strings (hypocorisms), broadcast to all pairs;
    only where ``where`` holds (false elsewhere), so cheap vectorised tests can spare the Python calls."""
    out = np.zeros(len(a), dtype=bool)
    present = (a >= 0) & (b >= 0)
    if where is not None:
        present &= where
    if not present.any():
        return out
    width = np.int64(len(vocab.strings) + 1)
    combos = a[present] * width + b[present]
    unique, inverse = np.unique(combos, return_inverse=True)
    strings = vocab.strings
    flags = np.fromiter(
        (fn(strings[int(k // width)], strings[int(k % width)]) for k in unique), dtype=bool, count=len(unique)
    )
    out[present] = flags[inverse]
    return out


def _eq(a: IntArray, b: IntArray) -> npt.NDArray[np.bool_]:
    return np.asarray((a == b) & (a >= 0), dtype=bool)


def _select(conditions: list[npt.NDArray[np.bool_]], null: npt.NDArray[np.bool_] | None) -> LevelArray:
    """The first true condition's index for each pair (the last level when none is), NULL where ``null``."""
    levels = np.select(conditions, np.arange(len(conditions), dtype=np.int8), default=len(conditions)).astype(np.int8)
    if null is not None:
        levels[null] = NULL
    return levels


# --- comparisons ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One comparison: its kind (name, date, identifier, country, place), its levels and its function."""

    name: str
    kind: str
    levels: tuple[str, ...]
    compute: Callable[[Prepared, Prepared, IntArray, IntArray], LevelArray]
    fields: tuple[str, ...]
    # m-probabilities assumed before estimation (and kept when there is too little data to estimate)
    m_prior: tuple[float, ...]

    def describe(self, level: int) -> str:
        return "null" if level == NULL else self.levels[level]


def _fuzzy(v: Vocabulary, a: IntArray, b: IntArray, pa: IntArray, pb: IntArray) -> npt.NDArray[np.bool_]:
    """Two words that may be one spelt differently: same sound key, Jaro-Winkler ≥ 0.88, or one edit apart
    (two for words of seven letters or more)."""
    jw = _pair_measure(v, a, b, JaroWinkler.normalized_similarity)
    edits = _pair_measure(v, a, b, OSA.distance)
    length = v.measure(len)
    shorter = np.minimum(length[a], length[b])
    return _eq(pa, pb) | (jw >= 0.88) | (edits <= 1) | ((edits <= 2) & (shorter >= 7) & (a >= 0) & (b >= 0))


def surnames_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    """Both surnames in order; one missing; fuzzy (sound key, Jaro-Winkler, edits); crossed; conflicting."""
    v = L.vocab
    pl, pr, ml, mr = L.paternal[li], R.paternal[ri], L.maternal[li], R.maternal[ri]
    same_words = _eq(L.name_sorted[li], R.name_sorted[ri])
    pat_eq, mat_eq = _eq(pl, pr), _eq(ml, mr)
    mat_missing = (ml < 0) | (mr < 0)
    pat_fuzzy = _fuzzy(v, pl, pr, L.paternal_ph[li], R.paternal_ph[ri])
    mat_fuzzy = _fuzzy(v, ml, mr, L.maternal_ph[li], R.maternal_ph[ri])
    crossed = _eq(pl, mr) | _eq(ml, pr)
    conditions = [
        same_words | (pat_eq & mat_eq),
        pat_eq & ~mat_missing & mat_fuzzy,
        pat_eq & mat_missing,
        pat_fuzzy & ~mat_missing & mat_fuzzy,
        pat_fuzzy & mat_missing,
        mat_eq,  # the paternal surname conflicts, the maternal one agrees: a badly mistyped first surname
        crossed,
        pat_eq,  # paternal equal, maternal conflicts: a cousin or a sibling's record as often as a typo
    ]
    null = ((pl < 0) & (ml < 0)) | ((pr < 0) & (mr < 0))
    return _select(conditions, null & ~same_words)


SURNAMES = Comparison(
    "surnames",
    "name",
    (
        "both_exact",
        "paternal_exact_maternal_fuzzy",
        "paternal_exact_maternal_missing",
        "both_fuzzy",
        "paternal_fuzzy_maternal_missing",
        "maternal_exact_paternal_differs",
        "crossed",
        "paternal_exact_maternal_differs",
        "differ",
    ),
    surnames_levels,
    ("paternal", "maternal"),
    (0.70, 0.06, 0.10, 0.05, 0.03, 0.01, 0.02, 0.01, 0.02),
)


def _other_sex(a: str, b: str) -> bool:
    """Fernando/Fernanda, Juan/Juana, Francisco/Francisca: one letter apart and another person."""
    if a[-1:] in "oa" and b[-1:] in "oa" and a[:-1] == b[:-1] and a != b:
        return True
    return a + "a" == b or b + "a" == a


def _given_fuzzy(a: str, b: str) -> bool:
    """The same given name mistyped or spelt by sound (Raquel/Rakel), but not its other-sex form."""
    if _other_sex(a, b):
        return False
    if phonetic(a) == phonetic(b):
        return True
    return bool(JaroWinkler.normalized_similarity(a, b) >= 0.88 or OSA.distance(a, b) <= 1)


def _given_all_fuzzy(a: str, b: str) -> bool:
    """Every given name there, one of them mistyped: "Brenda Teresa" / "Brenda Tereza"."""
    wa, wb = a.split(), b.split()
    return len(wa) == len(wb) and all(x == y or _given_fuzzy(x, y) for x, y in zip(wa, wb, strict=True))


def _given_compatible(a: str, b: str) -> bool:
    """One side's given names are the other's first ones ("María Luisa" / "María")."""
    wa, wb = a.split(), b.split()
    short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(short) < len(long) and long[: len(short)] == short


def _given_hypocorism(a: str, b: str) -> bool:
    """The first given names are one name by hypocorism ("Pita Alejandra" / "Guadalupe Alejandra"), or the
    whole compound has one ("Chema" / "José María")."""
    wa, wb = a.split(), b.split()
    if same_given_name(a, b) or (wa and wb and same_given_name(wa[0], wb[0]) and not _other_sex(wa[0], wb[0])):
        return wa[1:2] == wb[1:2] or not wa[1:] or not wb[1:]
    return False


def given_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    """All given names equal; all there with a typo; one side's are the other's first; a hypocorism; the first
    mistyped; a name shared in another position; initials; conflicting."""
    v = L.vocab
    al, ar = L.given_all[li], R.given_all[ri]
    gl, gr = L.given_first[li], R.given_first[ri]
    words = v.measure(lambda x: len(x.split()))
    wl, wr = words[al], words[ar]
    same_words = _eq(L.name_sorted[li], R.name_sorted[ri])
    all_eq = same_words | _eq(al, ar)
    first_eq = _eq(gl, gr)
    # Predicates on first names run once per distinct pair of first names (a few hundred names), the ones on
    # whole given names only where the first names already allow them.
    first_fuzzy = _pair_predicate(v, gl, gr, _given_fuzzy)
    first_hypo = _pair_predicate(v, gl, gr, lambda a, b: same_given_name(a, b) and not _other_sex(a, b))
    open_ = ~all_eq
    compound = v.measure(lambda x: any(" " in f for f in canonical_given(x))).astype(bool)
    sl, sr = L.given_second[li], R.given_second[ri]
    shared = first_eq | _eq(gl, sr) | _eq(sl, gr) | _eq(sl, sr)
    conditions = [
        all_eq,
        _pair_predicate(v, al, ar, _given_all_fuzzy, open_ & (first_eq | first_fuzzy) & (wl == wr)),
        _pair_predicate(v, al, ar, _given_compatible, open_ & first_eq & (wl != wr)),
        _pair_predicate(v, al, ar, _given_hypocorism, open_ & (first_hypo | compound[gl] | compound[gr])),
        first_fuzzy,
        shared,
        _eq(L.given_initial[li], R.given_initial[ri])
        & _pair_predicate(v, gl, gr, lambda a, b: len(a) == 1 or len(b) == 1),
    ]
    return _select(conditions, ((gl < 0) | (gr < 0)) & ~same_words)


GIVEN = Comparison(
    "given_names",
    "name",
    (
        "all_exact",
        "all_fuzzy",
        "first_ones_agree",
        "hypocorism",
        "first_fuzzy",
        "shared_in_other_position",  # also: first equal, second conflicting ("María Luisa" / "María Elena")
        "initial",
        "differ",
    ),
    given_levels,
    ("given",),
    (0.70, 0.07, 0.08, 0.04, 0.05, 0.03, 0.01, 0.02),
)


def org_name_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    """Company names without legal forms: equal; token-sorted Jaro-Winkler ≥ 0.95; ≥ 0.88; different."""
    a, b = L.org_name[li], R.org_name[ri]
    jw = _pair_measure(L.vocab, L.name_sorted[li], R.name_sorted[ri], JaroWinkler.normalized_similarity)
    return _select([_eq(a, b), jw >= 0.95, jw >= 0.88], (a < 0) | (b < 0))


ORG_NAME = Comparison(
    "org_name",
    "name",
    ("exact", "jaro_winkler_95", "jaro_winkler_88", "differ"),
    org_name_levels,
    ("name",),
    (0.8, 0.1, 0.05, 0.05),
)


def birth_date_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    """Exact; day and month swapped; one character off; two of year, month and day equal (one mistyped);
    only a year on one side and it agrees; same year; within five years; further apart."""
    yl, yr, ml, mr, dl, dr = L.year[li], R.year[ri], L.month[li], R.month[ri], L.day[li], R.day[ri]
    full_l, full_r = (ml > 0) & (dl > 0), (mr > 0) & (dr > 0)
    full = full_l & full_r
    exact = full & (yl == yr) & (ml == mr) & (dl == dr)
    swapped = full & (yl == yr) & (ml == dr) & (dl == mr) & (ml != dl)
    edit = _pair_measure(L.vocab, L.dob[li], R.dob[ri], OSA.distance)
    one_edit = full & (edit <= 1)
    two_of_three = full & (((yl == yr).astype(np.int8) + (ml == mr) + (dl == dr)) >= 2)
    year_only = ~full & (yl == yr)
    same_year = full & (yl == yr)
    close = np.abs(yl - yr) <= 5
    return _select([exact, swapped, one_edit, two_of_three, year_only, same_year, close], (yl == 0) | (yr == 0))


BIRTH_DATE = Comparison(
    "birth_date",
    "date",
    ("exact", "day_month_swapped", "one_edit", "two_of_three", "year_only", "same_year", "within_5_years", "differ"),
    birth_date_levels,
    ("birth_date",),
    (0.78, 0.03, 0.08, 0.03, 0.03, 0.01, 0.02, 0.02),
)


def identifier_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    """A shared identifier; one character off (a transcription error); different."""
    a, b = L.id_first[li], R.id_first[ri]
    null = (a < 0) | (b < 0)
    exact = _eq(a, b)
    # records with several identifiers: any shared one counts (few records, so a Python pass is cheap)
    multi = np.flatnonzero(~null & ~exact)
    for k in multi:
        sl, sr = L.id_sets[int(li[k])], R.id_sets[int(ri[k])]
        if (len(sl) > 1 or len(sr) > 1) and sl & sr:
            exact[k] = True
    near = _pair_measure(L.vocab, a, b, OSA.distance) <= 1
    return _select([exact, near], null)


IDENTIFIERS = Comparison(
    "identifiers",
    "identifier",
    ("exact", "one_edit", "differ"),
    identifier_levels,
    ("ids",),
    (0.9, 0.05, 0.05),
)


def country_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    a, b = L.country[li], R.country[ri]
    return _select([_eq(a, b)], (a < 0) | (b < 0))


COUNTRY = Comparison("country", "country", ("same", "differ"), country_levels, ("country",), (0.95, 0.05))


def address_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    a, b = L.address[li], R.address[ri]
    jw = _pair_measure(L.vocab, a, b, JaroWinkler.normalized_similarity)
    return _select([_eq(a, b), jw >= 0.92, jw >= 0.80], (a < 0) | (b < 0))


ADDRESS = Comparison(
    "address",
    "place",
    ("exact", "jaro_winkler_92", "jaro_winkler_80", "differ"),
    address_levels,
    ("address",),
    (0.7, 0.15, 0.1, 0.05),
)


def postcode_levels(L: Prepared, R: Prepared, li: IntArray, ri: IntArray) -> LevelArray:
    a, b = L.postcode[li], R.postcode[ri]
    near = _pair_measure(L.vocab, a, b, OSA.distance) <= 1
    return _select([_eq(a, b), near], (a < 0) | (b < 0))


POSTCODE = Comparison(
    "postcode", "place", ("exact", "one_edit", "differ"), postcode_levels, ("postcode",), (0.85, 0.1, 0.05)
)

ALL_COMPARISONS: dict[str, Comparison] = {
    c.name: c for c in (SURNAMES, GIVEN, ORG_NAME, BIRTH_DATE, IDENTIFIERS, COUNTRY, ADDRESS, POSTCODE)
}


def present(prep: Prepared, comparison: Comparison) -> bool:
    """Whether a record set has any value for the comparison (absent everywhere → not part of the model)."""
    columns = {
        "surnames": (prep.paternal,),
        "given_names": (prep.given_first,),
        "org_name": (prep.org_name,),
        "birth_date": (prep.year,),
        "identifiers": (prep.id_first,),
        "country": (prep.country,),
        "address": (prep.address,),
        "postcode": (prep.postcode,),
    }[comparison.name]
    return any(bool((col > 0 if col is prep.year else col >= 0).any()) for col in columns)


def compare_records(
    a: Mapping[str, Any], b: Mapping[str, Any], comparisons: Sequence[Comparison] | None = None
) -> dict[str, str]:
    """The level of each comparison for one pair of plain records: ``{"surnames": "both_exact", ...}``."""
    vocab = Vocabulary()
    left, right = prepare([a], vocab), prepare([b], vocab)
    zero = np.zeros(1, dtype=np.int64)
    chosen = comparisons or list(ALL_COMPARISONS.values())
    return {c.name: c.describe(int(c.compute(left, right, zero, zero)[0])) for c in chosen}


def field_values(prep: Prepared, i: int, comparison: Comparison) -> str:
    """What a record holds for a comparison, as shown in explanations."""
    s = prep.vocab.strings

    def text(arr: IntArray) -> str:
        k = int(arr[i])
        return s[k] if k >= 0 else ""

    name = comparison.name
    if name == "surnames":
        return " ".join(x for x in (text(prep.paternal), text(prep.maternal)) if x)
    if name == "given_names":
        return text(prep.given_all)
    if name == "org_name":
        return text(prep.org_name)
    if name == "birth_date":
        y, m, d = int(prep.year[i]), int(prep.month[i]), int(prep.day[i])
        return "" if not y else f"{y:04d}" + (f"-{m:02d}" if m else "") + (f"-{d:02d}" if d else "")
    if name == "identifiers":
        return ", ".join(sorted(prep.id_sets[i]))
    if name == "country":
        return text(prep.country)
    if name == "address":
        return text(prep.address)
    return text(prep.postcode)
