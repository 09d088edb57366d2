"""Screening: is this person or company on a sanctions list? Names typed as analysts type them, against lists.

The algorithm is ``alianza-screen-v1`` (``ALGORITHM``; default threshold ``DEFAULT_THRESHOLD``). As in
nomenklatura's ``logic-v2``, a score is built from features cut by kind, each explained; unlike it, the name
features know how Mexican names are written and typed:

1. **Candidates** come from an in-memory index built once per list version (``ScreeningIndex``): every name and
   alias of an entry gives blocking keys — a surname's Spanish sound (first four letters of ``names.phonetic``)
   with the initial of each formal form of a given name (so "Chuy" finds "Jesús"), both surnames together, a
   given name's formal form with a surname's initial, and each nickname. A query gives the same keys for every
   pair of its words, in both roles, so the order it was typed in ("Nemesio Oseguera", "OSEGUERA CERVANTES,
   Nemesio") does not matter.
2. **Name features.** The query's words are aligned to the entry's given names, paternal and maternal surnames
   and nicknames (exact, hypocorism, phonetic, one or two typing errors, initial). What was aligned and what was
   left over make the features: the paternal surname (agreeing, missing or contradicted), the maternal surname
   (a dropped one costs little, a different one a lot: a cousin; the two in the other order, nearly all), the
   given name (a different one is a sibling, and so is "Rosario de Jesús" for "Mercedes de Jesús"),
   a nickname ("Mencho Oseguera" for "EL MENCHO"), words of the query found nowhere, and the token-set similarity
   of the whole names (``rapidfuzz``).
3. **Evidence** the query may carry: birth date, nationality, identifiers (RFC, CURP, passport).
4. The features' points (log-odds) are added to a prior and turned into a score in [0, 1]. Every hit carries the
   features, what was compared and their points (``Hit.explanation``).

Pure functions (``screen_name``, ``screen_subjects``, ``ScreeningIndex``) need no database, so the benchmark runs
them directly; the service functions below them (``screen``, ``screen_records``, ``rescreen``, ``decide_hit``)
keep the hits in ``screening_models.ScreeningHit`` with their explanation, audited.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from followthemoney.types import registry
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, allowed, require
from alianza.audit.trail import AuditTrail
from alianza.errors import NotFoundError, ValidationError, problem
from alianza.matching.features import clean_identifier, parse_date
from alianza.matching.names import (
    ALIAS_ARTICLES,
    COMMON_SURNAMES,
    GIVEN_NAMES,
    HYPOCORISMS,
    PARTICLES,
    TITLES,
    canonical_given,
    company_name,
    normalize,
    person_name_parts,
    phonetic,
    same_given_name,
    strip_alias_article,
)
from alianza.matching.recordsets import csv_cells
from alianza.matching.screening_models import ListEntry, SanctionsList, ScreeningHit
from alianza.records.models import Record
from alianza.records.service import can_see
from alianza.store.db import utcnow

ALGORITHM = "alianza-screen-v1"
DEFAULT_THRESHOLD = 0.70
"""Score from which a candidate is a hit. Set before the benchmark was run; the best-F1 thresholds it measured
since (0.71 on the committed seed, 0.71 to 0.85 on others) leave recall at 1.0 there, so it stays."""

PERSON_SCHEMATA = frozenset({"Person"})
ORG_SCHEMATA = frozenset({"Organization", "Company", "LegalEntity", "PublicBody", "Vessel", "Airplane"})
MATCH = "match"
FALSE_POSITIVE = "false_positive"
DECISIONS = (MATCH, FALSE_POSITIVE)

# --- points (log-odds) of alianza-screen-v1 -------------------------------------------------------------------
PRIOR = -4.0
PATERNAL = {
    "exact": 4.0,
    "phonetic": 3.6,
    "fuzzy": 3.0,
    "near_surname": 1.0,
    "swapped": 0.5,
    "missing": -2.0,
    "differs": -4.0,
}
MATERNAL = {
    "exact": 2.0,
    "phonetic": 1.8,
    "fuzzy": 1.5,
    "near_surname": 0.3,
    "swapped": 0.0,
    "dropped": -0.3,
    "differs": -4.0,
    "not_on_list": -1.5,
}
GIVEN = {
    "exact": 3.0,
    "hypocorism": 2.6,
    "phonetic": 2.6,
    "fuzzy": 2.0,
    "nickname": 2.6,
    "initial": 0.5,
    "first_differs": -3.0,
    "missing": -2.5,
    "differs": -5.0,
}
NICKNAME_WITH_GIVEN = 1.0  # a nickname as well as the given name: more evidence
NICKNAME_ONLY = 5.0  # the query is only the nickname ("El Mencho")
EXTRA_QUERY_WORD = -2.0  # each word of the query found nowhere on the entry
UNKNOWN_NICKNAME = -1.0  # a nickname typed with the name ("El Güero Pérez") that the list does not give
EXTRA_ENTRY_GIVEN = -0.3  # a second given name of the entry the query leaves out (at most two count)
ENTRY_FIRST_GIVEN_LEFT_OUT = -1.2  # the query has the entry's second given name only ("Ramón" for "Alfonso Ramón")
# First names that compound names drop in daily use: "José Luis" goes by Luis, "María Guadalupe" by Lupita.
DROPPED_FIRST_NAMES = frozenset({"jose", "maria", "ma", "juan", "j", "m"})
TOKEN_SET = (2.5, 0.75, -0.5, 0.5)  # points = clip(scale · (ratio − centre), low, high)
BIRTH_DATE = {"exact": 2.0, "day_month_swapped": 1.5, "same_year": 0.5, "near_year": 0.0, "differs": -3.0}
NATIONALITY = {"same": 0.3, "differs": -1.0}
IDENTIFIER = {"same": 6.0}
ORG_NAME_SCALE = 50.0  # organisations: points = scale · (similarity − 0.88), capped
ORG_EXACT = 10.0

# Known given names: two different ones a letter apart (Mario/María, Daniel/Daniela) are different names,
# not a typing error.
_KNOWN_GIVEN = frozenset(GIVEN_NAMES) | frozenset(HYPOCORISMS)
_ID_PROPERTIES = (
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
)
_MAX_BUCKET = 5000


# --- what is screened and against what ------------------------------------------------------------------------


@dataclass(frozen=True)
class Identifier:
    """An identifier of a list entry as the list writes it; ``value`` is compared cleaned."""

    kind: str
    value: str
    country: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"type": self.kind, "value": self.value, "country": self.country}


@dataclass(frozen=True)
class Entry:
    """One listed person or organisation, whatever list format it came from."""

    external_id: str
    schema: str
    names: tuple[str, ...]  # the primary name first, then strong aliases
    weak_aliases: tuple[str, ...] = ()  # nicknames and other weak a.k.a. (OFAC keeps them in the remarks)
    birth_dates: tuple[str, ...] = ()  # ISO, possibly partial: "1966-07-17", "1966-07", "1966"
    nationalities: tuple[str, ...] = ()  # ISO 3166 alpha-2, lower case
    identifiers: tuple[Identifier, ...] = ()
    programs: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    remarks: str = ""
    list_name: str = ""

    @property
    def caption(self) -> str:
        return self.names[0] if self.names else self.external_id

    @property
    def is_person(self) -> bool:
        return self.schema in PERSON_SCHEMATA

    def fingerprint(self) -> str:
        """A hash of the entry's content: tells a changed entry from an unchanged one between two versions."""
        payload = json.dumps(
            [
                self.schema,
                self.names,
                self.weak_aliases,
                self.birth_dates,
                self.nationalities,
                [i.as_dict() for i in self.identifiers],
                self.programs,
                self.addresses,
                self.remarks,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Subject:
    """What is screened: a name as typed (``schema`` None: person or company), or a stored record."""

    names: tuple[str, ...]
    schema: str | None = None
    birth_dates: tuple[str, ...] = ()
    nationalities: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    record_id: str | None = None

    @classmethod
    def of(cls, query: str | Subject) -> Subject:
        return query if isinstance(query, Subject) else cls(names=(query,))

    @property
    def text(self) -> str:
        return self.names[0] if self.names else ""

    def as_dict(self) -> dict[str, Any]:
        """What was typed, kept with a typed subject's hits so that a list change screens it again."""
        return {
            "names": list(self.names),
            "schema": self.schema,
            "birth_dates": list(self.birth_dates),
            "nationalities": list(self.nationalities),
            "identifiers": list(self.identifiers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        return cls(
            names=tuple(str(n) for n in data.get("names", ())),
            schema=data.get("schema"),
            birth_dates=tuple(str(d) for d in data.get("birth_dates", ())),
            nationalities=tuple(str(n) for n in data.get("nationalities", ())),
            identifiers=tuple(str(i) for i in data.get("identifiers", ())),
        )

    @property
    def key(self) -> str:
        """The subject's identity for stored hits: its record, or a hash of what was typed."""
        if self.record_id:
            return f"record:{self.record_id}"
        payload = json.dumps(
            [
                [normalize(n) for n in self.names],
                self.schema,
                sorted(self.birth_dates),
                sorted(n.lower() for n in self.nationalities),
                sorted(clean_identifier(i) for i in self.identifiers),
            ]
        )
        return "text:" + hashlib.sha256(payload.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Feature:
    """One feature of a comparison: its level, the values compared and the points it added."""

    name: str
    kind: str  # name | date | country | identifier
    level: str
    points: float
    query: str = ""
    entry: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.name,
            "kind": self.kind,
            "level": self.level,
            "points": round(self.points, 3),
            "query": self.query,
            "entry": self.entry,
        }


@dataclass(frozen=True)
class Hit:
    """A list entry a subject may be, with the score and every feature that made it."""

    entry: Entry
    score: float
    points: float
    query_name: str
    matched_name: str
    features: tuple[Feature, ...]
    algorithm: str = ALGORITHM

    def explanation(self, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
        """What an analyst (and the stored hit) sees: the names compared, each feature's points, the total."""
        return {
            "algorithm": self.algorithm,
            "score": round(self.score, 4),
            "threshold": threshold,
            "prior": PRIOR,
            "points": round(self.points, 3),
            "query": self.query_name,
            "matched_name": self.matched_name,
            "entry": {
                "list": self.entry.list_name,
                "id": self.entry.external_id,
                "schema": self.entry.schema,
                "name": self.entry.caption,
                "programs": list(self.entry.programs),
            },
            "features": [f.as_dict() for f in self.features],
            "matched": [f.name for f in self.features if f.points > 0],
        }


def describe() -> dict[str, Any]:
    """The algorithm as data (name, default threshold, every feature's levels and points): shown to analysts
    beside their hits and kept with benchmark results, so a change of weights is a change of version."""
    return {
        "algorithm": ALGORITHM,
        "default_threshold": DEFAULT_THRESHOLD,
        "score": "1 / (1 + e^-(prior + sum of the features' points))",
        "prior": PRIOR,
        "features": {
            "paternal_surname": dict(PATERNAL),
            "maternal_surname": dict(MATERNAL),
            "given_name": dict(GIVEN),
            "other_given_names": {"left_out": EXTRA_ENTRY_GIVEN, "first_left_out": ENTRY_FIRST_GIVEN_LEFT_OUT},
            "nickname": {"with_given_name": NICKNAME_WITH_GIVEN, "alone": NICKNAME_ONLY},
            "unmatched_word": {"not_on_list": EXTRA_QUERY_WORD, "unknown_nickname": UNKNOWN_NICKNAME},
            "token_set": {"scale": TOKEN_SET[0], "centre": TOKEN_SET[1], "min": TOKEN_SET[2], "max": TOKEN_SET[3]},
            "org_name": {"exact": ORG_EXACT, "scale": ORG_NAME_SCALE},
            "birth_date": dict(BIRTH_DATE),
            "nationality": dict(NATIONALITY),
            "identifier": dict(IDENTIFIER),
        },
    }


def _squash(points: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(points, 50.0), -50.0)))


# --- prepared names -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """A part of an entry's name a query word can be aligned to."""

    role: str  # given | paternal | maternal | surname | nickname | given_block
    text: str
    index: int


@dataclass(frozen=True)
class _Form:
    """One of an entry's person names, parsed."""

    text: str
    given: tuple[str, ...]
    paternal: str
    maternal: str
    extra: tuple[str, ...]
    flat: str  # normalised words for token-set similarity

    @property
    def surnames(self) -> tuple[str, ...]:
        return tuple(s for s in (self.paternal, self.maternal, *self.extra) if s)


@dataclass(frozen=True)
class _Word:
    text: str
    role: str  # what the query's own parse says: given | surname | alias


@dataclass(frozen=True)
class _Query:
    """One name of a subject, parsed once."""

    text: str
    words: tuple[_Word, ...]
    flat: str
    nickname: str  # the whole query without a leading article ("el senor de los cielos" → "senor de los cielos")
    org: str  # as a company name


def _is_nickname_like(text: str) -> bool:
    """An alias that is a nickname, not a full name: led by an article, or a single word, and no comma."""
    if "," in text:
        return False
    words = normalize(text).split()
    return bool(words) and (words[0] in ALIAS_ARTICLES or len(words) == 1)


def _nick_words(nickname: str) -> tuple[str, ...]:
    return tuple(w for w in nickname.split() if w not in PARTICLES and w not in ALIAS_ARTICLES)


@lru_cache(maxsize=100_000)
def _form(text: str) -> _Form | None:
    parts = person_name_parts(text)
    if not parts.tokens:
        return None
    return _Form(
        text=text,
        given=tuple(w for g in parts.given for w in g.split()),
        paternal=parts.paternal,
        maternal=parts.maternal,
        extra=parts.extra_surnames,
        flat=" ".join(parts.tokens),
    )


@lru_cache(maxsize=100_000)
def _query(text: str) -> _Query:
    parts = person_name_parts(text)
    words: list[_Word] = [_Word(g, "given") for given in parts.given for g in given.split()]
    words += [_Word(s, "surname") for surname in parts.surnames for s in surname.split()]
    if parts.alias:
        words += [_Word(w, "alias") for w in _nick_words(parts.alias)]
    flat = " ".join(w.text for w in words)
    kept = {w.text for w in words}
    # Titles the parser drops can be a nickname on a list ("El Licenciado", "El Ingeniero").
    words += [_Word(w, "title") for w in dict.fromkeys(normalize(text).split()) if w in TITLES and w not in kept]
    return _Query(text=text, words=tuple(words), flat=flat, nickname=strip_alias_article(text), org=company_name(text))


@dataclass
class _Prepared:
    """An entry as the scorer reads it (built once per index)."""

    entry: Entry
    forms: list[_Form]
    nicknames: list[tuple[str, tuple[str, ...]]]  # (nickname, its words)
    orgs: list[tuple[str, str]]  # (name as listed, company_name)
    dates: list[tuple[int, int, int]]
    nationalities: frozenset[str]
    ids: frozenset[str]


def _prepare(entry: Entry) -> _Prepared:
    forms: list[_Form] = []
    nicknames: list[tuple[str, tuple[str, ...]]] = []
    orgs: list[tuple[str, str]] = []
    if entry.is_person:
        for i, name in enumerate((*entry.names, *entry.weak_aliases)):
            strong = i < len(entry.names)
            if not strong or (i > 0 and _is_nickname_like(name)):
                nick = strip_alias_article(name)
                words = _nick_words(nick)
                if words and len(words) <= 4:
                    nicknames.append((nick, words))
                if _is_nickname_like(name):
                    continue
            form = _form(name)
            if form is not None:
                forms.append(form)
        # "OSEGUERA, Nemesio" beside "OSEGUERA CERVANTES, Nemesio" is the same name cut short, not a person
        # without a maternal surname: a query's different maternal surname contradicts it too.
        maternal_of = {f.paternal: f.maternal for f in forms if f.paternal and f.maternal}
        forms = [
            _Form(f.text, f.given, f.paternal, maternal_of[f.paternal], f.extra, f.flat)
            if not f.maternal and f.paternal in maternal_of and not f.extra
            else f
            for f in forms
        ]
    else:
        for name in (*entry.names, *entry.weak_aliases):
            org = company_name(name)
            if org:
                orgs.append((name, org))
    dates = [d for d in (parse_date(v) for v in entry.birth_dates) if d[0]]
    return _Prepared(
        entry=entry,
        forms=forms,
        nicknames=nicknames,
        orgs=orgs,
        dates=dates,
        nationalities=frozenset(n.lower() for n in entry.nationalities if n),
        ids=frozenset(v for v in (clean_identifier(i.value) for i in entry.identifiers) if len(v) >= 4),
    )


# --- blocking keys ----------------------------------------------------------------------------------------------


def _initials(given: str) -> set[str]:
    return {c[0] for c in canonical_given(given) if c} | ({given[0]} if given else set())


def _entry_keys(prep: _Prepared) -> set[str]:
    keys: set[str] = set()
    for form in prep.forms:
        surnames = form.surnames
        sounds = [phonetic(s)[:4] for s in surnames]
        for sound, surname in zip(sounds, surnames, strict=True):
            if not sound:
                continue
            keys.add(f"u:{sound}")
            for given in form.given:
                for initial in _initials(given):
                    keys.add(f"sp:{sound}:{initial}")
                for formal in canonical_given(given):
                    keys.add(f"gs:{formal}:{surname[0]}")
        if len(sounds) >= 2 and sounds[0] and sounds[1]:
            keys.add("ss:" + ":".join(sorted(sounds[:2])))
    for _nick, words in prep.nicknames:
        keys.update(f"n:{w}" for w in words if len(w) >= 3)
    for _name, org in prep.orgs:
        keys.update(f"o:{w}" for w in org.split() if len(w) >= 3)
        keys.add("oj:" + org.replace(" ", "")[:6])  # "Aero Caribbean" for "AEROCARIBBEAN"
    return keys


def _query_keys(query: _Query, orgs: bool) -> set[str]:
    keys: set[str] = set()
    words = [w.text for w in query.words]
    for w in words:
        keys.add(f"n:{w}")
    if len(words) == 1:
        keys.add(f"u:{phonetic(words[0])[:4]}")
    for i, a in enumerate(words):
        sound = phonetic(a)[:4]
        for j, b in enumerate(words):
            if i == j:
                continue
            for initial in _initials(b):
                keys.add(f"sp:{sound}:{initial}")
            for formal in canonical_given(b):
                keys.add(f"gs:{formal}:{a[0]}")
            other = phonetic(b)[:4]
            if sound and other:
                keys.add("ss:" + ":".join(sorted((sound, other))))
    if orgs and query.org:
        keys.update(f"o:{w}" for w in query.org.split() if len(w) >= 3)
        keys.add("oj:" + query.org.replace(" ", "")[:6])
    return keys


# --- word alignment ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=500_000)
def _word_match(q: str, e: str, given: bool) -> tuple[float, str]:
    """How well query word ``q`` stands for entry word ``e`` (1.0 exact … 0 not at all) and how."""
    if q == e:
        return 1.0, "exact"
    if given and same_given_name(q, e):
        return 0.95, "hypocorism"
    if len(q) == 1 or len(e) == 1:
        return (0.5, "initial") if given and q[0] == e[0] else (0.0, "")
    if given and q in _KNOWN_GIVEN and e in _KNOWN_GIVEN:
        return 0.0, ""  # two different real names (Mario / María), not a typing error
    pq, pe = phonetic(q), phonetic(e)
    known_pair = not given and q in COMMON_SURNAMES and e in COMMON_SURNAMES
    if pq and pq == pe:
        return 0.92, "phonetic"
    longest = max(len(q), len(e))
    distance = OSA.distance(q, e)
    if (
        (longest >= 4 and distance == 1)
        or (longest >= 8 and distance == 2)
        or (len(pq) >= 5 and OSA.distance(pq, pe) == 1)
    ):
        # Rojas / Rosas: both real surnames a letter apart are as often two families as a typo.
        return (0.6, "near_surname") if known_pair else (0.85, "fuzzy")
    return 0.0, ""


def _slots(form: _Form, nicknames: Sequence[tuple[str, tuple[str, ...]]]) -> list[_Slot]:
    slots = [_Slot("given", g, k) for k, g in enumerate(form.given)]
    if len(form.given) > 1:
        slots.append(_Slot("given_block", " ".join(form.given), 0))
    if form.paternal:
        slots.append(_Slot("paternal", form.paternal, 0))
    if form.maternal:
        slots.append(_Slot("maternal", form.maternal, 0))
    slots += [_Slot("surname", s, k) for k, s in enumerate(form.extra)]
    for k, (_nick, words) in enumerate(nicknames):
        if len(words) == 1:
            slots.append(_Slot("nickname", words[0], k))
    return slots


_ROLE_PRIORITY = {"paternal": 0, "given": 1, "given_block": 1, "nickname": 2, "maternal": 3, "surname": 4}


def _agrees(word_role: str, slot_role: str) -> bool:
    if word_role == "given":
        return slot_role in ("given", "given_block")
    if word_role == "surname":
        return slot_role in ("paternal", "maternal", "surname")
    return slot_role == "nickname"


def _align(query: _Query, slots: Sequence[_Slot]) -> dict[int, tuple[_Slot, float, str]]:
    """Each query word's entry slot (greedy on similarity; ties go to the role the query's parse gave it)."""
    options: list[tuple[float, int, int, int, int, str]] = []
    for i, word in enumerate(query.words):
        for s, slot in enumerate(slots):
            if word.role == "title" and slot.role != "nickname":
                continue
            if slot.role == "given_block":
                ok = same_given_name(word.text, slot.text) and word.text not in slot.text.split()
                score, how = (0.95, "hypocorism") if ok else (0.0, "")
            elif slot.role == "nickname":
                score, how = _word_match(word.text, slot.text, False)
                if how in ("phonetic", "fuzzy") and len(slot.text) < 5:
                    score, how = 0.0, ""
            else:
                score, how = _word_match(word.text, slot.text, slot.role == "given")
            if score > 0:
                agree = 0 if _agrees(word.role, slot.role) else 1
                options.append((-score, agree, _ROLE_PRIORITY[slot.role], i, s, how))
    options.sort()
    used_words: set[int] = set()
    used_slots: set[int] = set()
    given_block_used = False
    out: dict[int, tuple[_Slot, float, str]] = {}
    for neg, _agree, _prio, i, s, how in options:
        slot = slots[s]
        if i in used_words or s in used_slots:
            continue
        if slot.role == "given_block" and any(slots[u].role == "given" for u in used_slots):
            continue
        if slot.role == "given" and given_block_used:
            continue
        used_words.add(i)
        used_slots.add(s)
        given_block_used = given_block_used or slot.role == "given_block"
        out[i] = (slot, -neg, how)
    return out


def _token_set_points(query: str, entry: str) -> tuple[float, float]:
    ratio = fuzz.token_set_ratio(query, entry) / 100.0
    scale, centre, low, high = TOKEN_SET
    return ratio, max(low, min(high, scale * (ratio - centre)))


def _score_form(query: _Query, form: _Form, prep: _Prepared) -> tuple[float, list[Feature]]:
    """Align the query's words to one of the entry's names and read the features off the alignment.

    Words left over are read, in the role the query's own parse gives them, as a *different* paternal surname,
    maternal surname or given name when the entry's is not matched (a relative: the strongest evidence against),
    else as words the entry does not have."""
    aligned = _align(query, _slots(form, prep.nicknames))
    by_role: dict[str, list[tuple[int, _Slot, float, str]]] = {}
    for i, (slot, score, how) in sorted(aligned.items()):
        by_role.setdefault(slot.role, []).append((i, slot, score, how))
    leftover = [i for i in range(len(query.words)) if i not in aligned]
    features: list[Feature] = []
    words = query.words

    def take(*roles: str) -> int | None:
        for i in leftover:
            if words[i].role in roles:
                leftover.remove(i)
                return i
        return None

    def surname(name: str, role: str, table: Mapping[str, float], missing: str) -> None:
        value = getattr(form, role)
        hit = by_role.get(role)
        if hit:
            i, _slot, _score, how = hit[0]
            level = how if how in table else "fuzzy"
            features.append(Feature(name, "name", level, table[level], words[i].text, value))
            return
        other = take("surname")
        level = "differs" if other is not None else missing
        features.append(
            Feature(name, "name", level, table[level], words[other].text if other is not None else "", value)
        )

    pat, mat = by_role.get("paternal"), by_role.get("maternal")
    if pat and mat and words[pat[0][0]].role == words[mat[0][0]].role == "surname" and pat[0][0] > mat[0][0]:
        # "Juárez Velázquez" for "VELÁZQUEZ JUÁREZ": the same two families in the other order are as often a
        # cousin as a clerk's mistake.
        features.append(
            Feature("paternal_surname", "name", "swapped", PATERNAL["swapped"], words[pat[0][0]].text, form.paternal)
        )
        features.append(
            Feature("maternal_surname", "name", "swapped", MATERNAL["swapped"], words[mat[0][0]].text, form.maternal)
        )
    else:
        if form.paternal:
            surname("paternal_surname", "paternal", PATERNAL, "missing")
        if form.maternal:
            surname("maternal_surname", "maternal", MATERNAL, "dropped")
    if not form.maternal:
        other = take("surname")
        if other is not None:
            features.append(
                Feature("maternal_surname", "name", "not_on_list", MATERNAL["not_on_list"], words[other].text, "")
            )
    given_hit = by_role.get("given", []) + by_role.get("given_block", [])
    nick_hit = by_role.get("nickname", [])
    if form.given:
        shown = " ".join(form.given)
        first_matched = any(s.role == "given_block" or s.index == 0 for _, s, _, _ in given_hit)
        by_surname = all(words[i].role == "surname" for i, _, _, _ in given_hit)
        first_word = next((i for i, w in enumerate(words) if w.role == "given"), None)
        own_first_left = first_word in leftover and words[first_word].text not in DROPPED_FIRST_NAMES
        other = take("given") if given_hit and (not first_matched or by_surname or own_first_left) else None
        if other is not None:
            # The query's own first name is not the entry's: "Rosario de Jesús" is not "Mercedes de Jesús".
            level = "differs" if first_matched else "first_differs"
            features.append(Feature("given_name", "name", level, GIVEN[level], words[other].text, shown))
        elif given_hit:
            i, slot, _score, how = max(given_hit, key=lambda h: h[2])
            level = how if how in GIVEN else "fuzzy"
            features.append(Feature("given_name", "name", level, GIVEN[level], words[i].text, slot.text))
            if not by_role.get("given_block"):
                left = [g for k, g in enumerate(form.given) if not any(s.index == k for _, s, _, _ in given_hit)]
                if left:
                    first_left = not first_matched and form.given[0] not in DROPPED_FIRST_NAMES
                    points = EXTRA_ENTRY_GIVEN * min(len(left), 2) + (ENTRY_FIRST_GIVEN_LEFT_OUT if first_left else 0)
                    features.append(
                        Feature(
                            "other_given_names",
                            "name",
                            "first_left_out" if first_left else "left_out",
                            points,
                            "",
                            " ".join(left),
                        )
                    )
        else:
            other = take("given")
            if other is not None:
                features.append(Feature("given_name", "name", "differs", GIVEN["differs"], words[other].text, shown))
            elif nick_hit:
                i, slot, _score, _how = nick_hit.pop(0)
                features.append(Feature("given_name", "name", "nickname", GIVEN["nickname"], words[i].text, shown))
            else:
                features.append(Feature("given_name", "name", "missing", GIVEN["missing"], "", shown))
    for i, slot, _score, how in nick_hit[:1]:
        features.append(Feature("nickname", "name", how, NICKNAME_WITH_GIVEN, words[i].text, slot.text))
    for i in leftover:
        if words[i].role == "title":
            continue  # "Lic.", "Ing.": a title the list does not give as a nickname says nothing
        alias = words[i].role == "alias"
        features.append(
            Feature(
                "unmatched_word",
                "name",
                "unknown_nickname" if alias else "not_on_list",
                UNKNOWN_NICKNAME if alias else EXTRA_QUERY_WORD,
                words[i].text,
                "",
            )
        )
    ratio, ts_points = _token_set_points(query.flat, form.flat)
    features.append(Feature("token_set", "name", f"{ratio:.2f}", ts_points, query.flat, form.flat))
    return sum(f.points for f in features), features


def _score_nickname_only(query: _Query, prep: _Prepared) -> tuple[float, list[Feature], str] | None:
    """The query is nothing but one of the entry's nicknames ("El Mencho", "mencho")."""
    words = _nick_words(query.nickname)
    if not words:
        return None
    for nick, nick_words in prep.nicknames:
        if words == nick_words:
            feature = Feature("nickname", "name", "exact", NICKNAME_ONLY, query.text, nick)
            return NICKNAME_ONLY, [feature], nick
    return None


def _score_org(query: _Query, prep: _Prepared) -> tuple[float, list[Feature], str] | None:
    if not query.org:
        return None
    best: tuple[float, list[Feature], str] | None = None
    for name, org in prep.orgs:
        if org == query.org:
            feature = Feature("org_name", "name", "exact", ORG_EXACT, query.org, org)
            return ORG_EXACT, [feature], name
        sort_ratio = fuzz.token_sort_ratio(query.org, org) / 100.0
        set_ratio = fuzz.token_set_ratio(query.org, org) / 100.0
        similarity = max(sort_ratio, set_ratio - 0.05 if min(len(query.org.split()), len(org.split())) >= 2 else 0.0)
        points = max(-6.0, min(ORG_EXACT - 1, ORG_NAME_SCALE * (similarity - 0.88)))
        features = [Feature("org_name", "name", f"{similarity:.2f}", points, query.org, org)]
        if best is None or points > best[0]:
            best = (points, features, name)
    return best


def _date_feature(subject_dates: Sequence[tuple[int, int, int]], prep: _Prepared) -> Feature | None:
    if not subject_dates or not prep.dates:
        return None
    order = ["exact", "day_month_swapped", "same_year", "near_year", "differs"]
    best = "differs"
    shown = ("", "")
    for q in subject_dates:
        for e in prep.dates:
            if q[0] == e[0]:
                full = q[1] and q[2] and e[1] and e[2]
                if full and (q[1], q[2]) == (e[1], e[2]):
                    level = "exact"
                elif full and (q[1], q[2]) == (e[2], e[1]):
                    level = "day_month_swapped"
                elif full and (q[1], q[2]) != (e[1], e[2]):
                    level = "near_year"  # the same year, another day: a typing error as often as not
                else:
                    level = "same_year"
            elif abs(q[0] - e[0]) <= 1:
                level = "near_year"
            else:
                level = "differs"
            if order.index(level) < order.index(best):
                best, shown = level, (_fmt_date(q), _fmt_date(e))
            elif best == "differs" and not shown[0]:
                shown = (_fmt_date(q), _fmt_date(e))
    return Feature("birth_date", "date", best, BIRTH_DATE[best], shown[0], shown[1])


def _fmt_date(d: tuple[int, int, int]) -> str:
    return f"{d[0]:04d}" + (f"-{d[1]:02d}" if d[1] else "") + (f"-{d[2]:02d}" if d[1] and d[2] else "")


# --- the index --------------------------------------------------------------------------------------------------


@dataclass
class _SubjectPrepared:
    subject: Subject
    queries: list[_Query]
    dates: list[tuple[int, int, int]]
    nationalities: frozenset[str]
    ids: frozenset[str]


def _prepare_subject(subject: Subject) -> _SubjectPrepared:
    names = [n for n in subject.names if n and normalize(n)]
    return _SubjectPrepared(
        subject=subject,
        queries=[_query(n) for n in dict.fromkeys(names)],
        dates=[d for d in (parse_date(v) for v in subject.birth_dates) if d[0]],
        nationalities=frozenset(n.lower() for n in subject.nationalities if n),
        ids=frozenset(v for v in (clean_identifier(i) for i in subject.identifiers) if len(v) >= 4),
    )


class ScreeningIndex:
    """A list's entries with their blocking keys, built once per list version and reused for every query."""

    def __init__(self, entries: Iterable[Entry], *, version: str = "") -> None:
        self.version = version
        self.prepared: list[_Prepared] = [_prepare(e) for e in entries]
        self.buckets: dict[str, list[int]] = {}
        self.by_id: dict[str, list[int]] = {}
        for k, prep in enumerate(self.prepared):
            for key in _entry_keys(prep):
                self.buckets.setdefault(key, []).append(k)
            for ident in prep.ids:
                self.by_id.setdefault(ident, []).append(k)

    def __len__(self) -> int:
        return len(self.prepared)

    @property
    def entries(self) -> list[Entry]:
        return [p.entry for p in self.prepared]

    def candidates(self, subject: Subject | str) -> list[Entry]:
        """The entries a subject is compared with (those sharing a blocking key or an identifier)."""
        return [self.prepared[k].entry for k in sorted(self._candidates(_prepare_subject(Subject.of(subject))))]

    def _candidates(self, prepared: _SubjectPrepared) -> set[int]:
        found: set[int] = set()
        orgs = prepared.subject.schema is None or prepared.subject.schema in ORG_SCHEMATA
        for query in prepared.queries:
            for key in _query_keys(query, orgs):
                bucket = self.buckets.get(key)
                if bucket and len(bucket) <= _MAX_BUCKET:
                    found.update(bucket)
        for ident in prepared.ids:
            found.update(self.by_id.get(ident, ()))
        return found

    def screen(self, subject: Subject | str, *, threshold: float | None = None, limit: int | None = 20) -> list[Hit]:
        """The subject's hits at or above ``threshold`` (the default when None), best first."""
        cut = DEFAULT_THRESHOLD if threshold is None else threshold
        prepared = _prepare_subject(Subject.of(subject))
        hits = []
        for k in self._candidates(prepared):
            hit = _score(prepared, self.prepared[k])
            if hit is not None and hit.score >= cut:
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.entry.list_name, h.entry.external_id))
        return hits[:limit] if limit is not None else hits


def _score(subject: _SubjectPrepared, prep: _Prepared) -> Hit | None:
    """Score one subject against one entry: the best of its names against the best of the entry's names."""
    schema = subject.subject.schema
    entry_person = prep.entry.is_person
    if schema is not None and (schema in PERSON_SCHEMATA) != entry_person:
        return None
    best: tuple[float, list[Feature], str, str] | None = None
    for query in subject.queries:
        if entry_person:
            nick = _score_nickname_only(query, prep)
            if nick is not None and (best is None or nick[0] > best[0]):
                best = (nick[0], nick[1], query.text, nick[2])
            if not query.words:
                continue
            for form in prep.forms:
                points, features = _score_form(query, form, prep)
                if best is None or points > best[0]:
                    best = (points, features, query.text, form.text)
        else:
            org = _score_org(query, prep)
            if org is not None and (best is None or org[0] > best[0]):
                best = (org[0], org[1], query.text, org[2])
    features = list(best[1]) if best is not None else []
    if best is None:
        if not (subject.ids & prep.ids):
            return None
        best = (-6.0, [], subject.subject.text, prep.entry.caption)
    date = _date_feature(subject.dates, prep)
    if date is not None:
        features.append(date)
    if subject.nationalities and prep.nationalities:
        same = bool(subject.nationalities & prep.nationalities)
        level = "same" if same else "differs"
        features.append(
            Feature(
                "nationality",
                "country",
                level,
                NATIONALITY[level],
                ", ".join(sorted(subject.nationalities)),
                ", ".join(sorted(prep.nationalities)),
            )
        )
    shared = subject.ids & prep.ids
    if shared:
        features.append(
            Feature(
                "identifier",
                "identifier",
                "same",
                IDENTIFIER["same"],
                ", ".join(sorted(shared)),
                ", ".join(sorted(shared)),
            )
        )
    points = PRIOR + sum(f.points for f in features)
    return Hit(
        entry=prep.entry,
        score=_squash(points),
        points=points,
        query_name=best[2],
        matched_name=best[3],
        features=tuple(features),
    )


def screen_name(
    query: str | Subject,
    entries: Sequence[Entry] | ScreeningIndex,
    *,
    threshold: float | None = None,
    limit: int | None = 20,
    birth_date: str | None = None,
    nationality: str | None = None,
    identifiers: Sequence[str] = (),
) -> list[Hit]:
    """Screen one name as typed ("Chuy Pérez", "OSEGUERA, Nemesio", "Mencho Oseguera") against entries.

    Give a ``ScreeningIndex`` when screening many names against the same list: building it is most of the cost.
    """
    subject = Subject.of(query)
    if birth_date or nationality or identifiers:
        subject = Subject(
            names=subject.names,
            schema=subject.schema,
            birth_dates=(*subject.birth_dates, *([birth_date] if birth_date else [])),
            nationalities=(*subject.nationalities, *([nationality] if nationality else [])),
            identifiers=(*subject.identifiers, *identifiers),
            record_id=subject.record_id,
        )
    index = entries if isinstance(entries, ScreeningIndex) else ScreeningIndex(entries)
    return index.screen(subject, threshold=threshold, limit=limit)


def screen_subjects(
    subjects: Iterable[Subject], index: ScreeningIndex, *, threshold: float | None = None, limit: int | None = 20
) -> list[tuple[Subject, list[Hit]]]:
    """Screen many subjects (a file, every record) against one index."""
    return [(s, index.screen(s, threshold=threshold, limit=limit)) for s in subjects]


# --- subjects from records and files ----------------------------------------------------------------------------


def subject_of_record(record: Record) -> Subject:
    """A stored FtM record as a screening subject: its names and aliases, birth date, nationality, identifiers."""
    props: Mapping[str, list[str]] = record.properties or {}

    def values(*names: str) -> tuple[str, ...]:
        return tuple(str(v) for n in names for v in props.get(n, []) or [] if v)

    names = values("name", "alias", "previousName", "weakAlias") or ((record.caption,) if record.caption else ())
    return Subject(
        names=tuple(dict.fromkeys(names)),
        schema=record.schema,
        birth_dates=values("birthDate", "incorporationDate"),
        nationalities=values("nationality", "citizenship") or values("country", "jurisdiction"),
        identifiers=values(*_ID_PROPERTIES),
        record_id=record.id,
    )


_SUBJECT_COLUMNS = {
    "name": "name", "nombre": "name",
    "birth_date": "birth_date", "fecha_nacimiento": "birth_date", "dob": "birth_date",
    "nationality": "nationality", "nacionalidad": "nationality",
    "id": "id", "identifier": "id", "identificador": "id", "rfc": "id", "curp": "id", "passport": "id",
    "schema": "schema", "tipo": "schema",
}  # fmt: skip
_MAX_SUBJECTS = 100_000


def read_subjects(data: bytes, filename: str = "names.txt") -> list[Subject]:
    """The names in a file to screen: a CSV with a header (``name``/``nombre`` and optionally ``birth_date``,
    ``nationality``, ``id``, ``schema``), or plain text, one name per line. Every line is checked; a file with
    any bad line is refused whole, each problem with its line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    problems: list[dict[str, Any]] = []
    subjects: list[Subject] = []
    if "\x00" in text:
        raise ValidationError(
            "{file} is not a text file (it has NUL bytes); give a CSV or one name per line.",
            details=[problem(filename, "The file is binary.")],
            file=filename,
        )
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    header = [normalize(c).replace(" ", "_") for c in next(csv.reader([first]))] if first else []
    is_csv = filename.lower().endswith(".csv") or (header and "name" in header) or "nombre" in header
    if is_csv and header and any(h in ("name", "nombre") for h in header):

        def header_problem(line: int, row: list[str], columns: list[str]) -> dict[str, Any] | None:
            unknown = [c for c, k in zip(row, columns, strict=True) if not k]
            if not unknown:
                return None
            return problem(
                filename,
                "line {line}: unknown column(s) {columns}; use name, birth_date, nationality, id, schema.",
                line=line,
                columns=", ".join(unknown),
            )

        for line, cells in csv_cells(text, filename, _SUBJECT_COLUMNS, problems, header_problem):
            subjects.append(_subject_from_cells(cells, filename, line, problems))
    else:
        for number, raw in enumerate(lines, start=1):
            name = raw.strip()
            if not name or name.startswith("#"):
                continue
            if len(name) > 500:
                problems.append(
                    problem(
                        filename,
                        "line {line}: a name of {length} characters; keep names under 500.",
                        line=number,
                        length=len(name),
                    )
                )
                continue
            subjects.append(Subject(names=(name,)))
    if len(subjects) > _MAX_SUBJECTS:
        problems.append(
            problem(
                filename, "{count} names; screen at most {limit} at a time.", count=len(subjects), limit=_MAX_SUBJECTS
            )
        )
    if not subjects and not problems:
        problems.append(problem(filename, "The file has no names."))
    if problems:
        raise ValidationError(
            "{file} was not screened: {count} problem(s) to fix.",
            details=problems[:100],
            file=filename,
            count=len(problems),
        )
    return subjects


def _subject_from_cells(
    cells: Mapping[str, list[str]], filename: str, line: int, problems: list[dict[str, Any]]
) -> Subject:
    names = tuple(cells.get("name", []))
    if not names:
        problems.append(problem(filename, "line {line}: the name is empty.", line=line))
    for value in cells.get("birth_date", []):
        if not parse_date(value)[0]:
            problems.append(
                problem(
                    filename,
                    "line {line}: '{value}' is not a date (write 1966-07-17, 17/07/1966 or 1966).",
                    line=line,
                    value=value,
                )
            )
    schema: str | None = None
    for value in cells.get("schema", []):
        kind = normalize(value)
        if kind in ("person", "persona", "persona fisica", "individual", "fisica"):
            schema = "Person"
        elif kind in ("organization", "company", "persona moral", "moral", "entity", "empresa"):
            schema = "Organization"
        else:
            problems.append(
                problem(
                    filename,
                    "line {line}: schema '{value}' is neither a person nor an organisation.",
                    line=line,
                    value=value,
                )
            )
    return Subject(
        names=names,
        schema=schema,
        birth_dates=tuple(cells.get("birth_date", [])),
        nationalities=tuple(n for v in cells.get("nationality", []) if (n := _country(v))),
        identifiers=tuple(cells.get("id", [])),
    )


def _country(value: str) -> str:
    return country_code(value) or ""


# --- countries --------------------------------------------------------------------------------------------------

_DEMONYMS = {
    "mexicana": "mx", "mexicano": "mx", "estadounidense": "us", "norteamericana": "us", "norteamericano": "us",
    "colombiana": "co", "colombiano": "co", "guatemalteca": "gt", "guatemalteco": "gt", "venezolana": "ve",
    "venezolano": "ve", "hondurena": "hn", "hondureno": "hn", "salvadorena": "sv", "salvadoreno": "sv",
    "nicaraguense": "ni", "costarricense": "cr", "panamena": "pa", "panameno": "pa", "cubana": "cu", "cubano": "cu",
    "dominicana": "do", "dominicano": "do", "ecuatoriana": "ec", "ecuatoriano": "ec", "peruana": "pe",
    "peruano": "pe", "boliviana": "bo", "boliviano": "bo", "chilena": "cl", "chileno": "cl", "argentina": "ar",
    "argentino": "ar", "brasilena": "br", "brasileno": "br", "canadiense": "ca", "espanola": "es", "espanol": "es",
    "china": "cn", "chino": "cn", "britanica": "gb", "britanico": "gb", "italiana": "it", "italiano": "it",
    "francesa": "fr", "frances": "fr", "alemana": "de", "aleman": "de", "rusa": "ru", "ruso": "ru",
    "israeli": "il", "libanesa": "lb", "libanes": "lb", "india": "in", "indio": "in", "belicena": "bz",
    "beliceno": "bz", "paraguaya": "py", "paraguayo": "py", "uruguaya": "uy", "uruguayo": "uy",
}  # fmt: skip


def country_code(value: str) -> str | None:
    """ISO 3166 alpha-2 (lower case) of a country name, code or Spanish demonym; None when it is none."""
    text = value.strip()
    if not text:
        return None
    found = _DEMONYMS.get(normalize(text))
    if found:
        return found
    code = registry.country.clean(text)
    return str(code) if code else None


# --- stored lists and hits --------------------------------------------------------------------------------------


def entry_of_row(row: ListEntry, list_name: str) -> Entry:
    return Entry(
        external_id=row.external_id,
        schema=row.schema,
        names=tuple(row.names or ()),
        weak_aliases=tuple(row.weak_aliases or ()),
        birth_dates=tuple(row.birth_dates or ()),
        nationalities=tuple(row.nationalities or ()),
        identifiers=tuple(
            Identifier(str(i.get("type", "")), str(i.get("value", "")), str(i.get("country", "")))
            for i in row.identifiers or ()
        ),
        programs=tuple(row.programs or ()),
        addresses=tuple(row.addresses or ()),
        remarks=row.remarks or "",
        list_name=list_name,
    )


_INDEXES: OrderedDict[tuple[str, str], ScreeningIndex] = OrderedDict()
_INDEX_CACHE_SIZE = 4


def index_for(session: Session, sanctions_list: SanctionsList) -> ScreeningIndex:
    """The list's index at its current version: built from the database once, then kept in memory."""
    key = (sanctions_list.name, sanctions_list.version)
    found = _INDEXES.get(key)
    if found is not None:
        _INDEXES.move_to_end(key)
        return found
    rows = session.scalars(select(ListEntry).where(ListEntry.list_id == sanctions_list.id).order_by(ListEntry.id))
    index = ScreeningIndex((entry_of_row(r, sanctions_list.name) for r in rows), version=sanctions_list.version)
    _INDEXES[key] = index
    while len(_INDEXES) > _INDEX_CACHE_SIZE:
        _INDEXES.popitem(last=False)
    return index


def lists_named(session: Session, names: Sequence[str] | None = None) -> list[SanctionsList]:
    """The loaded lists (all, or those named; an unknown name is an error that lists the known ones)."""
    rows = list(session.scalars(select(SanctionsList).order_by(SanctionsList.name)))
    if not names:
        if not rows:
            raise NotFoundError("No sanctions list is loaded; load one first (alianza lists load).")
        return rows
    known = {r.name: r for r in rows}
    missing = [n for n in names if n not in known]
    if missing:
        raise NotFoundError(
            "No list named {names}; loaded lists: {known}.",
            names=", ".join(missing),
            known=", ".join(known) or "none",
        )
    return [known[n] for n in dict.fromkeys(names)]


def _check_threshold(threshold: float | None) -> float:
    cut = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0 < cut <= 1:
        raise ValidationError("The threshold is a score between 0 and 1; {value} is not.", value=cut)
    return cut


@dataclass
class SubjectResult:
    """A screened subject's hits, with their stored rows (when kept)."""

    subject: Subject
    hits: list[Hit]
    rows: list[ScreeningHit] = field(default_factory=list)


def screen(
    session: Session,
    actor: User,
    trail: AuditTrail,
    subjects: Sequence[str | Subject],
    *,
    lists: Sequence[str] | None = None,
    threshold: float | None = None,
    limit: int = 20,
    save: bool = True,
) -> list[SubjectResult]:
    """Screen names as typed (one, or a file's: ``read_subjects``) against the loaded lists.

    The hits are kept (``save``) so that an analyst's decision on one stays with it when the same name is screened
    again; the screening is audited with the names screened, as any search for a person is.
    """
    require(actor, Permission.READ_RECORDS)
    cut = _check_threshold(threshold)
    chosen = lists_named(session, lists)
    prepared = [Subject.of(s) for s in subjects]
    if not prepared or not any(s.names and any(normalize(n) for n in s.names) for s in prepared):
        raise ValidationError("Give a name to screen.")
    results: list[SubjectResult] = []
    now = utcnow()
    for subject in prepared:
        found: list[Hit] = []
        for lst in chosen:
            found.extend(index_for(session, lst).screen(subject, threshold=cut, limit=limit))
        found.sort(key=lambda h: -h.score)
        result = SubjectResult(subject, found[:limit])
        if save:
            by_list = {lst.name: lst for lst in chosen}
            existing = {
                (row.list_id, row.entry_external_id): row
                for row in session.scalars(select(ScreeningHit).where(ScreeningHit.subject_key == subject.key))
            }
            for hit in result.hits:
                lst = by_list[hit.entry.list_name]
                row = existing.get((lst.id, hit.entry.external_id))
                result.rows.append(_store_hit(session, row, lst, subject, hit, cut, actor, now))
        results.append(result)
    session.flush()
    names = [s.text for s in prepared]
    trail.append(
        session,
        actor,
        "screening.names",
        "screening",
        "*",
        {
            "subjects": len(prepared),
            "names": names[:50],
            "lists": {lst.name: lst.version for lst in chosen},
            "hits": sum(len(r.hits) for r in results),
            "algorithm": ALGORITHM,
            "threshold": cut,
        },
    )
    return results


def _store_hit(
    session: Session,
    row: ScreeningHit | None,
    lst: SanctionsList,
    subject: Subject,
    hit: Hit,
    threshold: float,
    actor: User,
    now: Any,
    key: str | None = None,
) -> ScreeningHit:
    if row is None:
        row = ScreeningHit(
            list_id=lst.id,
            entry_external_id=hit.entry.external_id,
            subject_key=key or subject.key,
            subject_record_id=subject.record_id,
            first_seen_at=now,
            note="",
        )
        session.add(row)
    row.subject_text = subject.text[:500]
    if subject.record_id is None:
        row.subject = subject.as_dict()
    row.list_version = lst.version
    row.entry_caption = hit.entry.caption[:500]
    row.entry_schema = hit.entry.schema
    row.score = hit.score
    row.algorithm = hit.algorithm
    row.explanation = hit.explanation(threshold)
    row.screened_at = now
    row.screened_by_id = actor.id
    row.removed_at = None
    return row


@dataclass
class RescreenReport:
    """What a screening of the stored records changed: hits that appeared, hits that went, hits that stayed."""

    lists: dict[str, str]  # list name → version screened against
    screened: int
    names: int = 0  # typed names screened again (``rescreen``): those kept with at least one hit
    new: list[ScreeningHit] = field(default_factory=list)
    removed: list[ScreeningHit] = field(default_factory=list)
    kept: list[ScreeningHit] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "lists": self.lists,
            "screened": self.screened,
            "names": self.names,
            "new": len(self.new),
            "removed": len(self.removed),
            "kept": len(self.kept),
        }


_SCREENED_SCHEMATA = ("Person", "Organization", "Company", "LegalEntity", "PublicBody")


def screen_records(
    session: Session,
    actor: User,
    trail: AuditTrail,
    *,
    lists: Sequence[str] | None = None,
    record_ids: Sequence[str] | None = None,
    threshold: float | None = None,
) -> RescreenReport:
    """Screen the stored people and organisations the actor may see (all, or ``record_ids``) against the lists.

    Each record's hits are kept; a hit that no longer comes up (the entry left the list, the record was purged, or
    the list changed so that it no longer matches) is marked removed, never deleted, so a decision taken on it
    stays on file. Returns the new and the removed hits.
    """
    require(actor, Permission.READ_RECORDS)
    cut = _check_threshold(threshold)
    chosen = lists_named(session, lists)
    query = select(Record).where(Record.schema.in_(_SCREENED_SCHEMATA))
    if record_ids is not None:
        query = query.where(Record.id.in_(list(record_ids)))
    records = [r for r in session.scalars(query.order_by(Record.id)) if can_see(actor, r)]
    if record_ids is not None:
        missing = sorted(set(record_ids) - {r.id for r in records})
        if missing:
            raise NotFoundError("No person or organisation record '{ids}' that you may see.", ids=", ".join(missing))
    live = [r for r in records if r.purged_at is None]
    subjects = [subject_of_record(r) for r in live]
    in_scope = [r.id for r in records]
    report = RescreenReport(lists={lst.name: lst.version for lst in chosen}, screened=len(live))
    now = utcnow()
    for lst in chosen:
        index = index_for(session, lst)
        existing: dict[tuple[str, str], ScreeningHit] = {}
        for start in range(0, len(in_scope), 500):
            chunk = in_scope[start : start + 500]
            for found in session.scalars(
                select(ScreeningHit).where(ScreeningHit.list_id == lst.id, ScreeningHit.subject_record_id.in_(chunk))
            ):
                existing[(found.subject_record_id or "", found.entry_external_id)] = found
        seen: set[tuple[str, str]] = set()
        for subject, hits in screen_subjects(subjects, index, threshold=cut, limit=None):
            for hit in hits:
                key = (subject.record_id or "", hit.entry.external_id)
                seen.add(key)
                row = existing.get(key)
                was_active = row is not None and row.removed_at is None
                stored = _store_hit(session, row, lst, subject, hit, cut, actor, now)
                (report.kept if was_active else report.new).append(stored)
        for key, stale in existing.items():
            if key not in seen and stale.removed_at is None:
                stale.removed_at = now
                stale.list_version = lst.version
                report.removed.append(stale)
    session.flush()
    trail.append(
        session,
        actor,
        "screening.records",
        "record",
        "*",
        {**report.summary(), "algorithm": ALGORITHM, "threshold": cut},
    )
    return report


def rescreen(
    session: Session, actor: User, trail: AuditTrail, list_name: str, *, threshold: float | None = None
) -> RescreenReport:
    """Screen every record the actor may see, and every typed name kept with a hit, again against one list (after
    it changed): new and removed hits, both kinds in the same report."""
    report = screen_records(session, actor, trail, lists=[list_name], threshold=threshold)
    names = _rescreen_names(session, actor, lists_named(session, [list_name])[0], _check_threshold(threshold), report)
    if names:
        trail.append(
            session,
            actor,
            "screening.names_rescreened",
            "screening",
            "*",
            {"lists": report.lists, "names": names, "algorithm": ALGORITHM, "threshold": _check_threshold(threshold)},
        )
    return report


TYPED_LIMIT = 20  # as many hits per typed name as ``screen`` keeps by default


def _rescreen_names(session: Session, actor: User, lst: SanctionsList, cut: float, report: RescreenReport) -> int:
    """The typed names screened before (those with a hit kept on any list), screened again against ``lst``.

    A typed name is kept only through its hits: one that never had a hit left nothing to screen again. A hit
    stored before the subject itself was kept (``subject`` None) is screened again by its typed text alone.
    """
    typed: dict[str, Subject] = {}
    for key, data, text in session.execute(
        select(ScreeningHit.subject_key, ScreeningHit.subject, ScreeningHit.subject_text)
        .where(ScreeningHit.subject_record_id.is_(None))
        .order_by(ScreeningHit.id)
    ):
        if data:
            typed[key] = Subject.from_dict(data)
        elif key not in typed and text:
            typed[key] = Subject(names=(text,))
    if not typed:
        return 0
    existing: dict[tuple[str, str], ScreeningHit] = {
        (row.subject_key, row.entry_external_id): row
        for row in session.scalars(
            select(ScreeningHit).where(ScreeningHit.list_id == lst.id, ScreeningHit.subject_record_id.is_(None))
        )
    }
    index = index_for(session, lst)
    now = utcnow()
    seen: set[tuple[str, str]] = set()
    for key, subject in typed.items():
        for hit in index.screen(subject, threshold=cut, limit=TYPED_LIMIT):
            seen.add((key, hit.entry.external_id))
            row = existing.get((key, hit.entry.external_id))
            was_active = row is not None and row.removed_at is None
            stored = _store_hit(session, row, lst, subject, hit, cut, actor, now, key=key)
            (report.kept if was_active else report.new).append(stored)
    for pair, stale in existing.items():
        if pair not in seen and stale.removed_at is None and pair[0] in typed:
            stale.removed_at = now
            stale.list_version = lst.version
            report.removed.append(stale)
    session.flush()
    report.names = len(typed)
    return len(typed)


def decide_hit(
    session: Session, actor: User, trail: AuditTrail, hit_id: int, decision: str, note: str = ""
) -> ScreeningHit:
    """An analyst's decision on a hit: a true ``match`` or a ``false_positive``. Revisable; each one audited."""
    require(actor, Permission.EDIT_RECORDS)
    if decision not in DECISIONS:
        raise ValidationError(
            "A decision is one of {allowed}; '{value}' is not.", allowed=", ".join(DECISIONS), value=decision
        )
    if len(note) > 2000:
        raise ValidationError("The note is {length} characters long; keep it under 2000.", length=len(note))
    row = _visible_hit(session, actor, hit_id)
    previous = row.decision
    row.decision = decision
    row.note = note
    row.decided_by_id = actor.id
    row.decided_at = utcnow()
    session.flush()
    trail.append(
        session,
        actor,
        f"screening.{decision}",
        "screening_hit",
        row.id,
        {
            "subject": row.subject_key,
            "entry": row.entry_external_id,
            "score": row.score,
            "previous": previous,
            "note": note,
        },
    )
    return row


def _visible_hit(session: Session, actor: User, hit_id: int) -> ScreeningHit:
    row = session.get(ScreeningHit, hit_id)
    if row is None or not _may_see_hit(session, actor, row):
        raise NotFoundError("No screening hit with id {id}.", id=hit_id)
    return row


def _may_see_hit(session: Session, actor: User, row: ScreeningHit) -> bool:
    if not allowed(actor, Permission.READ_RECORDS):
        return False
    if row.subject_record_id is not None:
        record = session.get(Record, row.subject_record_id)
        return record is not None and can_see(actor, record)
    # A name typed by an analyst is that analyst's (and the overseers') to see.
    return row.screened_by_id == actor.id or actor.role in ("admin", "auditor", "legal_reviewer")


def list_hits(
    session: Session,
    actor: User,
    *,
    list_name: str | None = None,
    record_id: str | None = None,
    pending_only: bool = False,
    include_removed: bool = False,
    limit: int = 200,
) -> list[ScreeningHit]:
    """Stored hits the actor may see, best score first (for the review queue)."""
    require(actor, Permission.READ_RECORDS)
    query = select(ScreeningHit).order_by(ScreeningHit.score.desc(), ScreeningHit.id)
    if list_name is not None:
        query = query.where(ScreeningHit.list_id.in_([lst.id for lst in lists_named(session, [list_name])]))
    if record_id is not None:
        query = query.where(ScreeningHit.subject_record_id == record_id)
    if pending_only:
        query = query.where(ScreeningHit.decision.is_(None))
    if not include_removed:
        query = query.where(ScreeningHit.removed_at.is_(None))
    out: list[ScreeningHit] = []
    for row in session.scalars(query):
        if _may_see_hit(session, actor, row):
            out.append(row)
            if len(out) >= limit:
                break
    return out


__all__ = [
    "ALGORITHM",
    "DEFAULT_THRESHOLD",
    "Entry",
    "Feature",
    "Hit",
    "Identifier",
    "RescreenReport",
    "ScreeningIndex",
    "Subject",
    "SubjectResult",
    "country_code",
    "decide_hit",
    "describe",
    "entry_of_row",
    "index_for",
    "list_hits",
    "lists_named",
    "read_subjects",
    "rescreen",
    "screen",
    "screen_name",
    "screen_records",
    "screen_subjects",
    "subject_of_record",
]
