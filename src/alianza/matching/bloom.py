"""Keyed Bloom-filter encodings of persons and the kernel that compares them (hit/no-hit matching).

Why this exists: the two nodes must learn whether the partner holds a subject without either side revealing
what the other does not also hold (FIU.net's anonymous matching). Each subject is encoded as a
*cryptographic long-term key* (CLK, Schnell et al. 2009/2011): q-grams and exact tokens of its normalised name
parts, date of birth and identifiers, each hashed with HMAC-SHA256 under a secret the two nodes share, set
bits in a 1024-bit filter. Without the secret the filter cannot be recomputed from a guessed name, and two
encodings made under different secrets share no structure, so they are compared only when both sides prove
they use the same secret and schema (``secret_fingerprint``, ``Schema.fingerprint``): a mismatch is refused,
never silently turned into "no hit".

Schema ``alianza-clk-v1`` (every parameter below enters the schema fingerprint; v2 and v3 build on it):

* 1024 bits = 16 little-endian ``uint64`` words, in three word-aligned *segments*: ``name`` (words 0–9),
  ``birth`` (10–12), ``ident`` (13–15). A segment with no bits means "the record does not say" and is left out
  of the score instead of counting as a disagreement (a missing date of birth is no evidence either way).
* Tokens per field (all normalised by ``names.normalize``; surnames and given names split by
  ``names.person_name_parts``), each field hashed under its own key ``HMAC(secret, schema|field)`` with ``k``
  positions per token taken from the HMAC-SHA256 digest ("random hashing": independent positions, not the
  double hashing that the Kroll–Steinmetzer attack exploits):
  name tokens' padded bigrams in any order (``tok``), first given name's bigrams (``given``), its formal forms
  so that Pepe meets José (``formal``), paternal and maternal surname bigrams and Spanish phonetic keys
  (``paternal``, ``maternal``, ``paternal_ph``, ``maternal_ph``); birth year, decade, month, day, month-day,
  the unordered month/day pair (day and month swapped still agree) and the full date; identifiers exactly and
  as bigrams (a typo keeps most of them).
* Score of a pair = weighted mean over the segments present on both sides of each segment's Dice coefficient
  (weights 0.55 name, 0.30 birth, 0.15 identifiers). The plain Dice of the whole filter is also available
  (``score="dice"``) and is what the throughput benchmark compares with anonlink.
* Default threshold 0.76: the best F1 on the Spanish-name set of ``matching.generator`` (seed 1, 10,000 a
  side; it has the siblings, twins and namesakes that punish a low threshold). Data without such relatives and
  with heavier typos want less (FEBRL4 peaks at 0.60); a lower threshold also means more false hits, each of
  which tells the asker that the partner holds someone *similar*. ``benchmarks/results/matching_private.json``
  keeps the sweeps.

Schema ``alianza-clk-v2`` (``ADDRESS_SCHEMA``): v1 plus a fourth segment, ``address`` (words 16–21, weight
0.30), holding the bigrams of the street lines (``street``), of the city or suburb (``city``), the postcode exactly
and as positional digits (``postcode``, ``postcode_digits``) and the state or region exactly (``state``), read from
FtM ``address``/``addressEntity`` (``street``, ``city``, ``postalCode``, ``region``/``state``) or plain keys
(``address``, ``city``, ``postcode``, ``state``; FEBRL's ``address_1``… too). Its keys are derived under v1's
label, so a subject without an address encodes to v1's filter plus zero words.

Schema ``alianza-clk-v3`` (``DEFAULT_SCHEMA``): v2's filter bit for bit, two more blocking keys from the address
(postcode + first street word, house number + first street word), and another decision. A fixed weighted mean
cannot serve both kinds of data: FEBRL4's duplicates often have a replaced name or date but the same identifier and
address, while the Spanish set's twins and siblings share surnames and a date and differ only in the given name.
So v3 fits a Fellegi–Sunter model on each offer (``LevelModel``, ``fit_model``): every segment's Dice falls in one
of eight levels; u per level is counted on random pairs of the offer × the holder's records, m and the share of
matches by EM on the pairs sharing a blocking key, with m/u kept non-decreasing in Dice and Dirichlet
pseudo-counts on fixed priors for small offers; a pair's score is its match probability, and ``threshold`` (0.3)
is a probability, chosen on the Spanish set's seed 1, never on FEBRL4. On FEBRL4 v3 reaches F1 0.9996 (v2 0.959,
v1 0.919) and keeps the Spanish set at 0.939 (``benchmarks/results/matching_private.json``). v1 and v2 remain known
by name: a v3 node refuses their offers with both schema names in the message.

Blocking: each subject also carries up to 16 *keyed* blocking keys (64-bit truncated HMACs of
``names.keys_of`` keys — surname phonetics + given initial, both surnames, sorted tokens —, the full date of
birth, year + given initial, and each identifier). Only pairs that share a key are scored, so a 50,000-subject
offer against a million records costs millions of comparisons, not billions; the keys are as opaque as the
filters.

The kernel is the C extension ``_dice`` (``_dice.c``, compiled by ``pip install``) when it is built: AND and
POPCNT of the words of each pair (AVX-512 VPOPCNTDQ, 8 pairs at a time, on CPUs that have it) against popcounts
computed once per filter, the threshold decided inside (a table of the least intersection that reaches it, from
the same double expression as below, so the very same pairs), rows split over threads; it returns only the
pairs above the threshold, with scores equal bit for bit to NumPy's. Without it, NumPy scores tiles of
many×many filters: AND of the words, a byte-wise popcount (``np.bitwise_count``, SIMD on uint8), per-segment
sums via SWAR on uint64 views, spread over threads (NumPy releases the GIL inside its loops), or the same on a
list of candidate pairs when blocking. Memory is bounded by the tile and pair-chunk sizes (NumPy) or by the
pairs found (C), not by the input sizes. Pairs above the threshold are then assigned one to one, greedily by
descending score (as anonlink's greedy solver does): one subject, at most one hit. Blocking loses the rare person
whose name, date, identifiers and address keys all changed at once (FEBRL4 has a few), so v3 then compares the
offer's subjects left without a hit with the records left unmatched, all against all within a budget of pairs
(``REMAINDER_LIMIT``; pairs prefiltered as on the dense path), decided by the same fitted model and threshold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from alianza.errors import ValidationError, problem
from alianza.matching.names import NameParts, canonical_given, keys_of, normalize, person_name_parts, phonetic

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
ScoreKind = Literal["segments", "dice"]
KernelKind = Literal["auto", "c", "numpy"]

try:  # the C kernel (_dice.c), built by `pip install`; the NumPy kernel below stands in when it is missing
    _dice: Any = importlib.import_module("alianza.matching._dice")
except ImportError:
    _dice = None
KERNEL: Literal["c", "numpy"] = "c" if _dice is not None else "numpy"

SCHEMA = "alianza-clk-v1"
MIN_SECRET_BYTES = 32
MAX_BLOCK_KEYS = 16
_FINGERPRINT_LABEL = b"alianza-clk secret fingerprint v1"
_M8 = np.uint64(0x00FF00FF00FF00FF)
_SUM16 = np.uint64(0x0001000100010001)
_S8 = np.uint64(8)
_S48 = np.uint64(48)


# --- schema ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A word-aligned slice of the filter that holds one kind of evidence."""

    name: str
    first_word: int
    words: int
    weight: float

    @property
    def bits(self) -> int:
        return self.words * 64


@dataclass(frozen=True)
class FieldSpec:
    """A field's tokens go to ``segment`` with ``k`` bit positions each: ``k`` is the field's weight."""

    name: str
    segment: str
    k: int


@dataclass(frozen=True)
class LevelModel:
    """Fellegi–Sunter over per-segment Dice levels (``alianza-clk-v3``), estimated on each offer by the holder.

    A segment's Dice falls in one of ``len(edges) + 1`` levels (below ``edges[0]`` … at least ``edges[-1]``); a
    segment empty on either side is no evidence. ``u`` per level is counted on random pairs of the offer × the
    holder's records, ``m`` and the share of matches by EM on the pairs that share a blocking key, each level's
    m/u kept non-decreasing in Dice (pool-adjacent-violators: agreeing more is never evidence against a match),
    both with Dirichlet pseudo-counts on ``m_prior``/``u_prior`` so that small offers fall back on them. A pair's
    match weight is log2 of the prior odds plus Σ log2(m/u) of its levels; its score the match probability."""

    edges: tuple[float, ...]
    m_prior: tuple[float, ...]
    u_prior: tuple[float, ...]
    m_pseudo: float = 50.0
    u_pseudo: float = 1000.0
    u_sample_pairs: int = 3_000_000
    em_iterations: int = 60
    min_em_pairs: int = 50
    seed: int = 1

    @property
    def levels(self) -> int:
        return len(self.edges) + 1

    def parameters(self) -> dict[str, Any]:
        return {
            "kind": "fellegi-sunter/segment-dice-levels/em-monotone",
            "edges": list(self.edges),
            "m_prior": list(self.m_prior),
            "u_prior": list(self.u_prior),
            "pseudo": [self.m_pseudo, self.u_pseudo],
            "u_sample_pairs": self.u_sample_pairs,
            "em_iterations": self.em_iterations,
            "min_em_pairs": self.min_em_pairs,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Schema:
    """Everything both sides must do identically; any difference changes ``fingerprint``."""

    name: str
    words: int
    segments: tuple[Segment, ...]
    fields: tuple[FieldSpec, ...]
    threshold: float
    # The label the per-field and blocking keys are derived under (``HMAC(secret, keys|field)``); empty means
    # ``name``. ``alianza-clk-v2`` derives them under v1's label, so its first 16 words are v1's filter bit for bit.
    keys: str = ""
    # How pairs are decided: ``None`` = weighted mean of segment Dice against ``threshold`` (v1, v2); a
    # ``LevelModel`` = Fellegi–Sunter over per-segment Dice levels, estimated per offer, ``threshold`` being the
    # match probability (v3).
    model: LevelModel | None = None
    # Blocking keys from the address too (postcode + street word, house number + street word).
    address_blocking: bool = False

    @property
    def bits(self) -> int:
        return self.words * 64

    @property
    def key_label(self) -> str:
        return self.keys or self.name

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def segment(self, name: str) -> Segment:
        for seg in self.segments:
            if seg.name == name:
                return seg
        raise KeyError(name)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def parameters(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "words": self.words,
            "segments": [[s.name, s.first_word, s.words, s.weight] for s in self.segments],
            "fields": [[f.name, f.segment, f.k] for f in self.fields],
            "hash": "hmac-sha256/random-hashing/u32-mod",
            "qgrams": 2,
            "blocking": "hmac-sha256/u64; names.keys_of, dob, year+initial, identifiers; max 16",
        }
        if self.keys:  # absent from v1's parameters, so v1's fingerprint is what it always was
            out["keys"] = self.keys
        if self.model is not None:  # likewise absent from v1's and v2's
            out["model"] = self.model.parameters()
        if self.address_blocking:
            out["address_blocking"] = "postcode+street word, number+street word"
        return out

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the parameters *and* of what this build's normalisation makes of fixed sample persons, so
        two nodes whose name parsing or phonetics drifted apart are refused instead of silently missing hits."""
        persons = _CANARY + (_CANARY_ADDRESS if "address" in {s.name for s in self.segments} else ())
        samples = [subject_of(sample) for sample in persons]
        canary = [
            sorted(
                f"{name}:{tok}" for name, toks in subject_tokens(s).items() if name in self.field_names for tok in toks
            )
            for s in samples
        ]
        canary_keys = [block_tokens(s, address=self.address_blocking) for s in samples]
        blob = json.dumps([self.parameters(), canary, canary_keys], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


V1_SCHEMA = Schema(
    name=SCHEMA,
    words=16,
    segments=(Segment("name", 0, 10, 0.55), Segment("birth", 10, 3, 0.30), Segment("ident", 13, 3, 0.15)),
    fields=(
        FieldSpec("tok", "name", 5),
        FieldSpec("given", "name", 4),
        FieldSpec("formal", "name", 12),
        FieldSpec("paternal", "name", 4),
        FieldSpec("maternal", "name", 3),
        FieldSpec("paternal_ph", "name", 10),
        FieldSpec("maternal_ph", "name", 8),
        FieldSpec("year", "birth", 10),
        FieldSpec("decade", "birth", 4),
        FieldSpec("month", "birth", 6),
        FieldSpec("day", "birth", 6),
        FieldSpec("monthday", "birth", 8),
        FieldSpec("daypair", "birth", 6),
        FieldSpec("date", "birth", 10),
        FieldSpec("digits", "birth", 2),
        FieldSpec("ident", "ident", 12),
        FieldSpec("ident_bigram", "ident", 4),
    ),
    threshold=0.76,
)

SCHEMA_V2 = "alianza-clk-v2"
# v1 plus an ``address`` segment (words 16–21): street lines' bigrams, city bigrams, postcode exactly and as
# positional digits, state/region exactly. The key label is v1's, so a subject without an address encodes to v1's
# filter followed by six zero words, and since a segment empty on either side leaves the score, every pair that
# lacks an address on one side scores exactly as under v1; a pair that agrees on its address scores higher.
ADDRESS_SCHEMA = Schema(
    name=SCHEMA_V2,
    words=22,
    segments=(*V1_SCHEMA.segments, Segment("address", 16, 6, 0.30)),
    fields=(
        *V1_SCHEMA.fields,
        FieldSpec("street", "address", 3),
        FieldSpec("city", "address", 4),
        FieldSpec("postcode", "address", 8),
        FieldSpec("postcode_digits", "address", 2),
        FieldSpec("state", "address", 4),
    ),
    threshold=0.76,
    keys=SCHEMA,
)
SCHEMA_V3 = "alianza-clk-v3"
# The default: v2's filter (same fields, segments and keys, so the same bits) plus address blocking keys, decided by
# a Fellegi–Sunter model of the segment Dice levels estimated per offer (``LevelModel``) instead of a fixed weighted
# mean; ``threshold`` is a match probability. 0.3: the best F1 on the Spanish set of ``matching.generator``, seed 1,
# 10,000 a side (F1 0.9434 at 0.1–0.3, 0.9433 at 0.4, 0.913 at 0.5); never chosen on FEBRL4 nor the evaluation
# seed. u comes from 3 M random pairs drawn in a canonical order of the filters, so a shuffled offer gets the same
# model: with 300 k pairs drawn in arrival order, FEBRL4 moved between 4,981 and 4,997 hits from one shuffle to the
# next.
SCHEMA_V3_MODEL = LevelModel(
    edges=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
    m_prior=(0.02, 0.02, 0.03, 0.05, 0.08, 0.15, 0.2, 0.45),
    u_prior=(0.73, 0.236, 0.028, 0.005, 0.0008, 0.0001, 0.00005, 0.00005),
)
DEFAULT_SCHEMA = Schema(
    name=SCHEMA_V3,
    words=ADDRESS_SCHEMA.words,
    segments=ADDRESS_SCHEMA.segments,
    fields=ADDRESS_SCHEMA.fields,
    threshold=0.3,
    keys=SCHEMA,
    model=SCHEMA_V3_MODEL,
    address_blocking=True,
)
SCHEMAS = {SCHEMA: V1_SCHEMA, SCHEMA_V2: ADDRESS_SCHEMA, SCHEMA_V3: DEFAULT_SCHEMA}


def schema_named(name: str) -> Schema:
    """``alianza-clk-v3`` (the default), or the earlier ``alianza-clk-v1`` (no address) and ``alianza-clk-v2``
    (address segment, weighted-mean decision), kept so that their offers are recognised by name."""
    try:
        return SCHEMAS[name]
    except KeyError:
        raise ValidationError(
            "Unknown matching schema {name}.",
            details=[problem("schema", "Unknown matching schema {name}.", name=name)],
            name=name,
        ) from None


# --- secrets ---------------------------------------------------------------------------------------------------


def check_secret(secret: bytes) -> bytes:
    """A shared secret must be bytes of at least 32: short or textual secrets invite a dictionary attack."""
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        raise ValidationError(
            "The matching secret must be at least {min} random bytes.",
            details=[problem("secret", "The matching secret must be at least {min} random bytes.", min=32)],
            min=MIN_SECRET_BYTES,
        )
    return bytes(secret)


def secret_fingerprint(secret: bytes) -> str:
    """Proves two nodes hold the same secret without revealing it (an HMAC of a fixed label)."""
    return hmac.new(check_secret(secret), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


def _subkey(secret: bytes, schema: Schema, purpose: str) -> bytes:
    return hmac.digest(secret, f"{schema.key_label}|{purpose}".encode(), "sha256")


# --- subjects: from records to tokens ---------------------------------------------------------------------------

_DATE = re.compile(r"^\s*(\d{4})(?:-?(\d{1,2})(?:-?(\d{1,2}))?)?")
_DMY = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})\s*$")
_ID = re.compile(r"[^0-9A-Z]")
GIVEN_PROPS = ("firstName", "secondName", "middleName", "given_name")
SURNAME_PROPS = ("lastName", "surname")
DATE_PROPS = ("birthDate", "birth_date", "date_of_birth")
ID_PROPS = ("idNumber", "passportNumber", "taxNumber", "socialSecurityNumber", "ids", "soc_sec_id")
# Address: FtM ``Person.address`` (full text) and ``Address`` properties (also of a nested ``addressEntity``),
# plain keys, and FEBRL's columns.
STREET_PROPS = ("address", "full", "street", "street2", "street_number", "address_1", "address_2")
CITY_PROPS = ("city", "suburb")
POSTCODE_PROPS = ("postalCode", "postcode", "postal_code", "zip")
STATE_PROPS = ("state", "region")
_POSTCODE = re.compile(r"[^0-9A-Z]")


@dataclass(frozen=True)
class Address:
    """Normalised address parts; empty strings for what the record does not say."""

    street: tuple[str, ...] = ()
    city: str = ""
    postcode: str = ""
    state: str = ""

    def __bool__(self) -> bool:
        return bool(self.street or self.city or self.postcode or self.state)


@dataclass(frozen=True)
class Subject:
    """What the encoding reads of a person: normalised name parts, date of birth (0 = unknown), identifiers."""

    parts: NameParts
    birth: tuple[int, int, int] = (0, 0, 0)
    identifiers: tuple[str, ...] = ()
    address: Address = field(default_factory=Address)


def _values(props: Mapping[str, Any], *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        value = props.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, str | int | float):
            out.append(str(value))
        else:
            out.extend(str(v) for v in value if v is not None and str(v).strip())
    return out


def properties_of(record: Any) -> Mapping[str, Any]:
    """The properties of a ``Record`` (or anything with ``.properties``), an FtM JSON dict or a plain dict."""
    props = getattr(record, "properties", None)
    if isinstance(props, Mapping):
        return props
    if isinstance(record, Mapping):
        inner = record.get("properties")
        return inner if isinstance(inner, Mapping) else record
    raise ValidationError(
        "A subject must be a record or a mapping of properties.",
        details=[problem(None, "A subject must be a record or a mapping of properties.")],
    )


def parse_date(text: str) -> tuple[int, int, int]:
    """(year, month, day), 0 for what the value does not say: ISO, ``YYYYMMDD``, ``DD/MM/YYYY``, partial."""
    dmy = _DMY.match(text)
    if dmy:
        year, month, day = int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1))
    else:
        found = _DATE.match(text)
        if not found:
            return (0, 0, 0)
        year, month, day = int(found.group(1)), int(found.group(2) or 0), int(found.group(3) or 0)
    if not 1 <= month <= 12:
        month, day = 0, 0
    if not 1 <= day <= 31:
        day = 0
    return (year if 1000 <= year <= 2999 else 0, month, day)


def clean_identifier(value: str) -> str:
    return _ID.sub("", normalize(value).upper())


def address_of(props: Mapping[str, Any]) -> Address:
    """The address of a person: its own address properties, else those of a nested FtM ``addressEntity``."""
    sources: list[Mapping[str, Any]] = [props]
    nested = props.get("addressEntity")
    for item in nested if isinstance(nested, list | tuple) else [nested]:
        if isinstance(item, Mapping):
            inner = item.get("properties")
            sources.append(inner if isinstance(inner, Mapping) else item)
    street: list[str] = []
    city = postcode = state = ""
    for source in sources:
        street += [w for w in normalize(" ".join(_values(source, *STREET_PROPS))).split() if w not in street]
        city = city or normalize(" ".join(_values(source, *CITY_PROPS)[:1]))
        postcode = postcode or _POSTCODE.sub("", normalize(" ".join(_values(source, *POSTCODE_PROPS)[:1])).upper())
        state = state or normalize(" ".join(_values(source, *STATE_PROPS)[:1]))
    return Address(tuple(street), city, postcode, state)


def subject_of(record: Any) -> Subject:
    """Read a person from FtM properties (``firstName``/``lastName``/``motherName``… or ``name``) or a plain
    record (``given_name``/``surname`` or ``name``, ``birth_date``, ``ids``, ``address``/``city``/``postcode``/
    ``state``). The address is read always but encoded only by schemas with an ``address`` segment."""
    props = properties_of(record)
    given = tuple(normalize(" ".join(_values(props, *GIVEN_PROPS))).split())
    surnames = [w for w in normalize(" ".join(_values(props, *SURNAME_PROPS))).split()]
    father = normalize(" ".join(_values(props, "fatherName")))
    mother = normalize(" ".join(_values(props, "motherName")))
    if given or surnames or father or mother:
        paternal = surnames[0] if surnames else father.replace(" ", "")
        maternal = mother.replace(" ", "") or (surnames[1] if len(surnames) > 1 else "")
        parts = NameParts(given=given, paternal=paternal, maternal=maternal, extra_surnames=tuple(surnames[2:]))
    else:
        names = _values(props, "name")
        parts = person_name_parts(names[0]) if names else NameParts()
    dates = _values(props, *DATE_PROPS)
    birth = parse_date(dates[0]) if dates else (0, 0, 0)
    ids = tuple(dict.fromkeys(v for v in (clean_identifier(x) for x in _values(props, *ID_PROPS)) if v))
    return Subject(parts, birth, ids, address_of(props))


def _bigrams(word: str) -> list[str]:
    padded = f"_{word}_"
    return [padded[i : i + 2] for i in range(len(padded) - 1)]


def subject_tokens(subject: Subject) -> dict[str, list[str]]:
    """The tokens of each field: the plaintext that the HMACs hide. Deterministic, order-free where the name is."""
    p = subject.parts
    out: dict[str, list[str]] = {}
    words = sorted({w for w in p.tokens if w})
    if words:
        out["tok"] = sorted({bg for w in words for bg in _bigrams(w)})
    if p.given:
        first = p.given[0].replace(" ", "")
        out["given"] = _bigrams(first)
        out["formal"] = sorted(canonical_given(first))
    if p.paternal:
        out["paternal"] = _bigrams(p.paternal.replace(" ", ""))
        out["paternal_ph"] = [phonetic(p.paternal)]
    if p.maternal:
        out["maternal"] = _bigrams(p.maternal.replace(" ", ""))
        out["maternal_ph"] = [phonetic(p.maternal)]
    year, month, day = subject.birth
    if year:
        out["year"] = [str(year)]
        out["decade"] = [str(year // 10)]
    if month:
        out["month"] = [str(month)]
    if day:
        out["day"] = [str(day)]
    if month and day:
        out["monthday"] = [f"{month}-{day}"]
        out["daypair"] = [f"{min(month, day)}-{max(month, day)}"]
        if year:
            out["date"] = [f"{year}-{month}-{day}"]
            out["digits"] = [f"{i}{ch}" for i, ch in enumerate(f"{year:04d}{month:02d}{day:02d}")]
    if subject.identifiers:
        out["ident"] = list(subject.identifiers)
        out["ident_bigram"] = sorted({bg for v in subject.identifiers for bg in _bigrams(v)})
    addr = subject.address
    if addr.street:
        out["street"] = sorted({bg for w in addr.street for bg in _bigrams(w)})
    if addr.city:
        out["city"] = _bigrams(addr.city.replace(" ", ""))
    if addr.postcode:
        out["postcode"] = [addr.postcode]
        out["postcode_digits"] = [f"{i}{ch}" for i, ch in enumerate(addr.postcode)]
    if addr.state:
        out["state"] = [addr.state]
    return out


def block_tokens(subject: Subject, *, address: bool = False) -> list[str]:
    """Plaintext blocking keys: two encodings of one person share at least one unless both name and dates moved
    (and, with ``address``, the postcode or house number and the first street word too)."""
    p = subject.parts
    keys = set(keys_of(p)) if (p.given or p.surnames or p.alias) else set()
    year, month, day = subject.birth
    if year and month and day:
        keys.add(f"dob:{year}-{month}-{day}")
    if year and p.given:
        for formal in canonical_given(p.given[0]):
            keys.add(f"yg:{year}:{formal[:1]}")
    for ident in subject.identifiers:
        keys.add(f"id:{ident}")
    extra: list[str] = []
    if address:
        words = [w for w in subject.address.street if not w.isdigit()]
        numbers = [w for w in subject.address.street if w.isdigit()]
        if words and subject.address.postcode:
            extra.append(f"pa:{subject.address.postcode}:{words[0]}")
        if words and numbers:
            extra.append(f"na:{numbers[0]}:{words[0]}")
    # the address keys first among the cut ones: a person's name keys rarely reach the limit
    return sorted(keys)[: MAX_BLOCK_KEYS - len(extra)] + extra


# A few fixed persons whose tokens enter the schema fingerprint (see ``Schema.fingerprint``).
_CANARY = (
    {"name": ["PÉREZ LÓPEZ, José Luis"], "birthDate": ["1980-02-29"], "idNumber": ["peLJ-800229 hdf"]},
    {"name": ["María de los Ángeles de la Cruz y Ñúñez"], "birthDate": ["03/04/1975"]},
    {"firstName": ["Pepe"], "lastName": ["Hernández"], "motherName": ["Gómez"], "birthDate": ["19991231"]},
    {"name": ["El Güero Vázquez"], "passportNumber": ["G1234567"]},
    {"name": ["Ωmega Straße-O'Brien Jr."], "birthDate": ["1961"]},
)
_CANARY_ADDRESS = (  # only for schemas with an address segment, so that v1's fingerprint stays as it was
    {
        "name": ["Ana Núñez"],
        "address": ["Av. de los Insurgentes Sur 1457, Int. 3"],
        "city": ["Ciudad de México"],
        "postalCode": ["03920"],
        "region": ["CDMX"],
    },
    {
        "name": ["Bo Li"],
        "addressEntity": [
            {
                "schema": "Address",
                "properties": {
                    "street": ["12 Wattle Pl"],
                    "city": ["Rosedale"],
                    "postalCode": ["2 6 1 5"],
                    "state": ["nsw"],
                },
            }
        ],
    },
)


# --- encoding --------------------------------------------------------------------------------------------------


@dataclass
class Encoded:
    """Filters (n × words uint64) and flattened blocking keys (``block_rows[i]`` owns ``block_keys[i]``)."""

    filters: U64
    block_rows: I64
    block_keys: U64

    def __len__(self) -> int:
        return int(self.filters.shape[0])

    def filters_b64(self) -> str:
        return base64.b64encode(self.filters.astype("<u8").tobytes()).decode("ascii")


class Encoder:
    """Encodes subjects under one secret and schema; caches each token's bit mask (bigrams repeat a lot)."""

    def __init__(self, secret: bytes, schema: Schema = DEFAULT_SCHEMA) -> None:
        secret = check_secret(secret)
        self.schema = schema
        self._field_keys = {f.name: _subkey(secret, schema, "field|" + f.name) for f in schema.fields}
        self._block_key = _subkey(secret, schema, "block")
        self._masks: dict[tuple[str, str], int] = {}

    def _mask(self, field_name: str, token: str) -> int:
        cached = self._masks.get((field_name, token))
        if cached is not None:
            return cached
        spec = self.schema.field(field_name)
        seg = self.schema.segment(spec.segment)
        key = self._field_keys[field_name]
        positions: list[int] = []
        counter = 0
        while len(positions) < spec.k:
            digest = hmac.digest(key, f"{counter}|{token}".encode(), "sha256")
            positions.extend(int.from_bytes(digest[i : i + 4], "little") % seg.bits for i in range(0, 32, 4))
            counter += 1
        mask = 0
        offset = seg.first_word * 64
        for pos in positions[: spec.k]:
            mask |= 1 << (offset + pos)
        self._masks[(field_name, token)] = mask
        return mask

    def filter_int(self, subject: Subject) -> int:
        mask = 0
        names = self.schema.field_names
        for field_name, tokens in subject_tokens(subject).items():
            if field_name not in names:  # e.g. an address under v1
                continue
            for token in tokens:
                mask |= self._mask(field_name, token)
        return mask

    def block_key(self, token: str) -> int:
        value = int.from_bytes(hmac.digest(self._block_key, token.encode(), "sha256")[:8], "little")
        return value or 1  # 0 never appears, so a zero can mean "padding" wherever keys are packed

    def encode(self, records: Iterable[Any]) -> Encoded:
        nbytes = self.schema.words * 8
        raw = bytearray()
        rows: list[int] = []
        keys: list[int] = []
        for i, record in enumerate(records):
            subject = record if isinstance(record, Subject) else subject_of(record)
            raw += self.filter_int(subject).to_bytes(nbytes, "little")
            for token in block_tokens(subject, address=self.schema.address_blocking):
                rows.append(i)
                keys.append(self.block_key(token))
        filters = np.frombuffer(bytes(raw), dtype="<u8").astype(np.uint64).reshape(-1, self.schema.words)
        return Encoded(filters, np.asarray(rows, dtype=np.int64), np.asarray(keys, dtype=np.uint64))


# --- kernel ----------------------------------------------------------------------------------------------------


def schema_for(schema: Schema | None, filters: U64) -> Schema:
    """The schema given, else the one the filters' width says: v1's 16 words or the default's."""
    if schema is not None:
        return schema
    return V1_SCHEMA if filters.shape[-1] == V1_SCHEMA.words else DEFAULT_SCHEMA


def _groups(schema: Schema, score: ScoreKind) -> tuple[list[tuple[int, int]], npt.NDArray[np.float64]]:
    if score == "dice":
        return [(0, schema.words)], np.ones(1)
    return [(s.first_word, s.first_word + s.words) for s in schema.segments], np.array(
        [s.weight for s in schema.segments]
    )


def segment_popcounts(filters: U64, groups: Sequence[tuple[int, int]]) -> npt.NDArray[np.int32]:
    counts = np.bitwise_count(filters).astype(np.int32)
    return np.stack([counts[:, lo:hi].sum(axis=1) for lo, hi in groups], axis=1)


def _scores(inter: npt.NDArray[Any], pa: npt.NDArray[Any], pb: npt.NDArray[Any], weights: npt.NDArray[Any]) -> F32:
    """Weighted mean of per-group Dice over groups present on both sides; the last axis is the group."""
    total = (pa + pb).astype(np.float32)
    present = (pa > 0) & (pb > 0)
    dice = np.divide(2.0 * inter, total, out=np.zeros(total.shape, np.float32), where=present)
    w = np.where(present, weights.astype(np.float32), np.float32(0))
    wsum = w.sum(axis=-1)
    out: F32 = np.divide((dice * w).sum(axis=-1), wsum, out=np.zeros(wsum.shape, np.float32), where=wsum > 0)
    return out


def _swar_sum(byte_counts: U64) -> U64:
    """Sum the 8 byte lanes of each uint64 (each lane ≤ 255, total ≤ 65535) with two masks and a multiply."""
    t = np.right_shift(byte_counts, _S8)
    np.bitwise_and(t, _M8, out=t)
    s = np.bitwise_and(byte_counts, _M8)
    np.add(s, t, out=s)
    np.multiply(s, _SUM16, out=s)
    np.right_shift(s, _S48, out=s)
    return s


class _Tiles:
    """Intersections of a tile of rows against a tile of columns, reusing buffers across tiles."""

    def __init__(self, words: int, rows: int, cols: int) -> None:
        self.x = np.empty((words, rows, cols), np.uint64)
        self.y = np.empty((words, rows, cols * 8), np.uint8)

    def intersections(
        self, aT: U64, bT: U64, groups: Sequence[tuple[int, int]]
    ) -> list[U64]:  # aT: words × r, bT: words × c
        r, c = aT.shape[1], bT.shape[1]
        x = self.x[:, :r, :c]
        y = self.y[:, :r, : c * 8]
        np.bitwise_and(aT[:, :, None], bT[:, None, :], out=x)
        np.bitwise_count(x.view(np.uint8), out=y)  # byte-wise: SIMD, unlike the uint64 loop
        lanes = y.view(np.uint64)  # words × r × c, each word holding 8 byte counts (≤ 8)
        out = []
        for lo, hi in groups:
            # ≤ 8 per lane per word; 16 words ≤ 128 per lane: no carry between lanes.
            out.append(_swar_sum(np.add.reduce(lanes[lo:hi], axis=0)))
        return out


@dataclass
class Candidates:
    """Scored pairs (row of A, row of B, score), unordered."""

    rows: I64
    cols: I64
    scores: F32

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @staticmethod
    def empty() -> Candidates:
        return Candidates(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))

    @staticmethod
    def concat(parts: Sequence[Candidates]) -> Candidates:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Candidates.empty()
        return Candidates(
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.cols for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def _workers(workers: int | None) -> int:
    return max(1, min(workers if workers else (os.cpu_count() or 1), 8))


def _use_c(kernel: KernelKind, groups: Sequence[tuple[int, int]]) -> bool:
    if kernel == "numpy":
        return False
    usable = _dice is not None and len(groups) <= _dice.MAX_GROUPS
    if kernel == "c" and not usable:
        raise RuntimeError("the C kernel alianza.matching._dice is not built (or the schema has too many segments)")
    return usable


def _c_groups(groups: Sequence[tuple[int, int]], weights: npt.NDArray[np.float64]) -> tuple[bytes, bytes]:
    return np.asarray(groups, np.int32).tobytes(), weights.astype(np.float32).tobytes()


def _c_candidates(out: tuple[bytearray, bytearray, bytearray]) -> Candidates:
    rows, cols, scores = out
    return Candidates(np.frombuffer(rows, np.int64), np.frombuffer(cols, np.int64), np.frombuffer(scores, np.float32))


def dense_candidates(
    a: U64,
    b: U64,
    threshold: float,
    *,
    schema: Schema | None = None,
    score: ScoreKind = "segments",
    workers: int | None = None,
    tile_rows: int = 16,
    tile_cols: int = 512,
    kernel: KernelKind = "auto",
) -> Candidates:
    """All pairs of ``a`` × ``b`` scoring at least ``threshold``, in tiles (memory ∝ tile, not n × m).
    ``kernel``: the C extension when built (``auto``), or forced; ``tile_*`` concern the NumPy kernel only."""
    schema = schema_for(schema, a)
    groups, weights = _groups(schema, score)
    if _use_c(kernel, groups):
        a64, b64, words = np.ascontiguousarray(a, np.uint64), np.ascontiguousarray(b, np.uint64), a.shape[1]
        if b.shape[1] != words:
            raise ValueError(f"filters of {words} and {b.shape[1]} words")
        if score == "dice":
            return _c_candidates(_dice.dense_dice(a64, b64, words, float(threshold), _workers(workers)))
        g, w = _c_groups(groups, weights)
        return _c_candidates(_dice.dense_segments(a64, b64, words, g, w, float(threshold), _workers(workers)))
    pa, pb = segment_popcounts(a, groups), segment_popcounts(b, groups)
    aT, bT = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
    n, m = a.shape[0], b.shape[0]
    limit = np.float32(threshold)
    # float32 pre-check a hair below the threshold; survivors are then checked exactly
    loose = np.float32(threshold - 1e-4)
    tpa = (loose * pa[:, 0]).astype(np.float32)
    tpb = (loose * pb[:, 0]).astype(np.float32)

    def run(lo: int, hi: int) -> Candidates:
        tiles = _Tiles(a.shape[1], tile_rows, tile_cols)
        found: list[Candidates] = []
        for i in range(lo, hi, tile_rows):
            i2 = min(i + tile_rows, hi)
            for j in range(0, m, tile_cols):
                j2 = min(j + tile_cols, m)
                inter = tiles.intersections(aT[:, i:i2], bT[:, j:j2], groups)
                if len(groups) == 1:
                    # 2·inter ≥ t·(pa + pb)  ⇔  2·inter − t·pa ≥ t·pb: two broadcasts, no division per pair
                    lhs = inter[0].astype(np.float32)
                    lhs *= np.float32(2)
                    lhs -= tpa[i:i2, None]
                    r, c = np.nonzero(lhs >= tpb[None, j:j2])
                    if r.size:
                        # exact check on the few survivors, in float64 like any reference Dice
                        total = np.maximum(pa[r + i, 0] + pb[c + j, 0], 1)
                        exact = 2.0 * inter[0][r, c].astype(np.float64) / total
                        ok = exact >= threshold
                        r, c = r[ok].astype(np.int64) + i, c[ok].astype(np.int64) + j
                        found.append(Candidates(r, c, exact[ok].astype(np.float32)))
                    continue
                stacked = np.stack(inter, axis=-1).astype(np.float32)
                scores = _scores(stacked, pa[i:i2, None, :], pb[None, j:j2, :], weights)
                r, c = np.nonzero(scores >= limit)
                if r.size:
                    found.append(Candidates(r.astype(np.int64) + i, c.astype(np.int64) + j, scores[r, c]))
        return Candidates.concat(found)

    count = _workers(workers)
    if count == 1 or n < 2 * tile_rows:
        return run(0, n)
    step = max(tile_rows, math.ceil(n / (count * 4) / tile_rows) * tile_rows)
    with ThreadPoolExecutor(count) as pool:
        return Candidates.concat(list(pool.map(lambda lo: run(lo, min(lo + step, n)), range(0, n, step))))


def pair_scores(
    a: U64,
    b: U64,
    rows: I64,
    cols: I64,
    *,
    schema: Schema | None = None,
    score: ScoreKind = "segments",
    kernel: KernelKind = "auto",
) -> F32:
    """Scores of the listed pairs only (the blocked path)."""
    schema = schema_for(schema, a)
    groups, weights = _groups(schema, score)
    if rows.size == 0:
        return np.empty(0, np.float32)
    if _use_c(kernel, groups):
        out = np.empty(rows.size, np.float32)
        g, w = _c_groups(groups, weights)
        words = a.shape[1]
        if b.shape[1] != words:
            raise ValueError(f"filters of {words} and {b.shape[1]} words")
        _dice.pair_segments(
            np.ascontiguousarray(a, np.uint64),
            np.ascontiguousarray(b, np.uint64),
            words,
            np.ascontiguousarray(rows, np.int64).ravel(),
            np.ascontiguousarray(cols, np.int64).ravel(),
            g,
            w,
            out,
        )
        return out
    x = np.bitwise_and(a[rows], b[cols])
    counts = np.bitwise_count(x).astype(np.int32)
    inter = np.stack([counts[:, lo:hi].sum(axis=1) for lo, hi in groups], axis=1)
    pa = segment_popcounts(a[rows], groups)
    pb = segment_popcounts(b[cols], groups)
    return _scores(inter, pa, pb, weights)


def blocked_pairs(
    rows_a: I64, keys_a: U64, rows_b: I64, keys_b: U64, m: int, *, max_pairs: int = 4_000_000
) -> Iterator[tuple[I64, I64]]:
    """Distinct (row of A, row of B) pairs sharing a blocking key, in chunks of at most ``max_pairs`` (before
    de-duplication) so that memory stays bounded however large a block is."""
    if rows_a.size == 0 or rows_b.size == 0:
        return
    order = np.argsort(keys_b, kind="stable")
    kb, rb = keys_b[order], rows_b[order]
    left = np.searchsorted(kb, keys_a, side="left")
    right = np.searchsorted(kb, keys_a, side="right")
    sizes = (right - left).astype(np.int64)
    by_row = np.argsort(rows_a, kind="stable")  # entries of the same A row together, A rows ascending
    start = 0
    while start < by_row.size:
        cum = np.cumsum(sizes[by_row[start:]])
        stop = start + max(1, int(np.searchsorted(cum, max_pairs, side="right")))
        # never split one A row across chunks, so de-duplication within a chunk is complete
        last_row = rows_a[by_row[stop - 1]]
        while stop < by_row.size and rows_a[by_row[stop]] == last_row:
            stop += 1
        sel = by_row[start:stop]
        start = stop
        counts = sizes[sel]
        total = int(counts.sum())
        if total == 0:
            continue
        entry_rows = np.repeat(rows_a[sel], counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        entry_cols = rb[np.repeat(left[sel], counts) + offsets]
        codes = np.unique(entry_rows * np.int64(m) + entry_cols)
        yield codes // m, codes % m


def blocked_candidates(
    a: Encoded,
    b: Encoded,
    threshold: float,
    *,
    schema: Schema | None = None,
    score: ScoreKind = "segments",
    max_pairs: int = 4_000_000,
) -> tuple[Candidates, int]:
    """Pairs sharing a blocking key and scoring at least ``threshold``, and how many pairs were compared."""
    found: list[Candidates] = []
    compared = 0
    for rows, cols in blocked_pairs(
        a.block_rows, a.block_keys, b.block_rows, b.block_keys, len(b), max_pairs=max_pairs
    ):
        s = pair_scores(a.filters, b.filters, rows, cols, schema=schema, score=score)
        compared += int(rows.size)
        keep = s >= np.float32(threshold)
        found.append(Candidates(rows[keep], cols[keep], s[keep]))
    return Candidates.concat(found), compared


def assign_greedy(found: Candidates) -> Candidates:
    """One to one: take pairs by descending score (ties by position), skipping rows or columns already taken."""
    if not len(found):
        return found
    order = np.lexsort((found.cols, found.rows, -found.scores))
    used_r: set[int] = set()
    used_c: set[int] = set()
    keep: list[int] = []
    for k, r, c in zip(order.tolist(), found.rows[order].tolist(), found.cols[order].tolist(), strict=True):
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        keep.append(k)
    idx = np.asarray(keep, dtype=np.int64)
    return Candidates(found.rows[idx], found.cols[idx], found.scores[idx])


@dataclass
class MatchStats:
    strategy: str
    compared: int
    above_threshold: int
    assigned: int
    extra: dict[str, Any] = field(default_factory=dict)


DENSE_LIMIT = 1_000_000  # pairs: up to this every pair is scored (no blocking loss), beyond it blocking applies
DENSE_PREFILTER = 0.45  # model schemas, dense: pairs outside the blocks are scored when their weighted Dice reaches it
# model schemas, blocked: after the assignment, the offer's subjects left without a hit are compared with every record
# left unmatched (``_remainder_pass``) when they make at most this many pairs: a budget of time, not of accuracy —
# with the C kernel 50 million pairs take about a second on two shared cores, NumPy scores them 20–30 times slower
REMAINDER_LIMIT = 50_000_000 if KERNEL == "c" else DENSE_LIMIT
_LEVEL_CHUNK = 250_000


def segment_levels(a: U64, b: U64, rows: I64, cols: I64, schema: Schema) -> npt.NDArray[np.int8]:
    """Each pair's Dice level per segment (``schema.model.edges``), -1 where a segment is empty on either side."""
    assert schema.model is not None
    edges = np.asarray(schema.model.edges, np.float64)
    groups = [(seg.first_word, seg.first_word + seg.words) for seg in schema.segments]
    out = np.empty((rows.size, len(groups)), np.int8)
    for lo in range(0, rows.size, _LEVEL_CHUNK):
        r, c = rows[lo : lo + _LEVEL_CHUNK], cols[lo : lo + _LEVEL_CHUNK]
        fa, fb = a[r], b[c]
        counts = np.bitwise_count(np.bitwise_and(fa, fb)).astype(np.int32)
        pa, pb = segment_popcounts(fa, groups), segment_popcounts(fb, groups)
        inter = np.stack([counts[:, g0:g1].sum(axis=1) for g0, g1 in groups], axis=1)
        dice = 2.0 * inter / np.maximum(pa + pb, 1)
        level = np.searchsorted(edges, dice, side="right").astype(np.int8)
        level[(pa == 0) | (pb == 0)] = -1
        out[lo : lo + _LEVEL_CHUNK] = level
    return out


def _monotone(m: npt.NDArray[Any], u: npt.NDArray[Any]) -> tuple[Any, Any]:
    """Pool adjacent levels until m/u is non-decreasing in the level (m and u are pseudo-counts)."""
    blocks: list[list[int]] = [[i] for i in range(m.size)]
    bm, bu = m.tolist(), u.tolist()
    i = 0
    while i < len(bm) - 1:
        if bm[i] * bu[i + 1] > bm[i + 1] * bu[i]:
            bm[i] += bm.pop(i + 1)
            bu[i] += bu.pop(i + 1)
            blocks[i] += blocks.pop(i + 1)
            i = max(i - 1, 0)
        else:
            i += 1
    new_m, new_u = np.empty_like(m), np.empty_like(u)
    for idx, tm, tu in zip(blocks, bm, bu, strict=True):
        share = u[idx] / u[idx].sum()  # within a pooled block the levels keep u's proportions
        new_m[idx], new_u[idx] = tm * share, tu * share
    return new_m, new_u


@dataclass
class FittedModel:
    """What one offer's pairs made of ``LevelModel``: m and u per segment and level, and the prior."""

    m: npt.NDArray[np.float64]  # segments × levels
    u: npt.NDArray[np.float64]
    prior: float
    em_pairs: int
    em_iterations: int

    def level_weights(self) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.log2(self.m / self.u)
        return out

    def weights(self, levels: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
        """log2 prior odds + Σ log2(m/u) over the segments present."""
        lw = self.level_weights()
        out = np.full(levels.shape[0], math.log2(self.prior / (1 - self.prior)))
        for k in range(levels.shape[1]):
            col = levels[:, k]
            mask = col >= 0
            out[mask] += lw[k][col[mask]]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "em_pairs": self.em_pairs,
            "em_iterations": self.em_iterations,
            "weights": np.round(self.level_weights(), 2).tolist(),
        }


def fit_model(a: U64, b: U64, levels: npt.NDArray[np.int8], schema: Schema) -> FittedModel:
    """u on random pairs of ``a`` × ``b``, m and the match share by EM on ``levels`` (the blocked pairs)."""
    model = schema.model
    assert model is not None
    segs, nl = len(schema.segments), model.levels
    m_prior, u_prior = np.asarray(model.m_prior, np.float64), np.asarray(model.u_prior, np.float64)
    m_prior, u_prior = m_prior / m_prior.sum(), u_prior / u_prior.sum()
    total = a.shape[0] * b.shape[0]
    rng = np.random.default_rng(model.seed)
    sample = int(min(model.u_sample_pairs, total))
    # Drawn from the filters in a canonical (sorted) order, not the order they came in: the offer is shuffled, and
    # the same offer against the same records must get the same model, hence the same hits.
    canon_a, canon_b = np.lexsort(a.T), np.lexsort(b.T)
    random_levels = segment_levels(
        a, b, canon_a[rng.integers(0, a.shape[0], sample, dtype=np.int64)],
        canon_b[rng.integers(0, b.shape[0], sample, dtype=np.int64)], schema,
    )  # fmt: skip
    u = np.empty((segs, nl))
    for k in range(segs):
        col = random_levels[:, k]
        u[k] = np.bincount(col[col >= 0].astype(np.int64), minlength=nl) + model.u_pseudo * u_prior
        u[k] /= u[k].sum()
    m = np.tile(m_prior, (segs, 1))
    n = levels.shape[0]
    if n < model.min_em_pairs:  # too few pairs to learn from: the priors, and one match per smaller side
        prior = 1.0 / max(min(a.shape[0], b.shape[0]), 1) / 10
        return FittedModel(m, u, min(max(prior, 1e-12), 0.5), n, 0)
    codes = np.zeros(n, np.int64)
    for k in range(segs):
        codes = codes * (nl + 1) + levels[:, k].astype(np.int64) + 1
    _, first, counts = np.unique(codes, return_index=True, return_counts=True)
    patterns = levels[first].astype(np.int64)
    weight = counts.astype(np.float64)
    present = patterns >= 0
    u_b = np.empty((segs, nl))  # non-matches among the blocked pairs: estimated alongside, then dropped
    for k in range(segs):
        u_b[k] = np.bincount(patterns[present[:, k], k], weights=weight[present[:, k]], minlength=nl) + 1.0
        u_b[k] /= u_b[k].sum()
    share = 0.1
    runs = 0
    for _ in range(model.em_iterations):
        runs += 1
        log_m = np.full(len(patterns), math.log(share))
        log_u = np.full(len(patterns), math.log(1 - share))
        for k in range(segs):
            mask = present[:, k]
            log_m[mask] += np.log(m[k][patterns[mask, k]])
            log_u[mask] += np.log(u_b[k][patterns[mask, k]])
        posterior = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        matched, unmatched = posterior * weight, (1 - posterior) * weight
        new_share = min(max(float(matched.sum() / weight.sum()), 1e-9), 1 - 1e-9)
        delta = abs(new_share - share)
        share = new_share
        for k in range(segs):
            mask = present[:, k]
            mm = np.bincount(patterns[mask, k], weights=matched[mask], minlength=nl) + model.m_pseudo * m_prior
            uu = np.bincount(patterns[mask, k], weights=unmatched[mask], minlength=nl) + 1.0
            mm, uu = _monotone(mm, uu)
            delta = max(delta, float(np.abs(mm / mm.sum() - m[k]).max()))
            m[k], u_b[k] = mm / mm.sum(), uu / uu.sum()
        if delta < 1e-6:
            break
    for k in range(segs):  # and against the random pairs' u, which the weights use
        mk, uk = _monotone(m[k], u[k])
        m[k], u[k] = mk / mk.sum(), uk / uk.sum()
    prior = min(max(share * n / max(total, 1), 1e-12), 0.5)
    return FittedModel(m, u, prior, n, runs)


def _model_match(
    a: Encoded, b: Encoded, limit: float, schema: Schema, chosen: str, workers: int | None
) -> tuple[Candidates, MatchStats]:
    """``match`` for schemas with a ``LevelModel``: fit it on the blocked pairs, score, threshold, assign."""
    m = len(b)
    parts = [
        (rows, cols, segment_levels(a.filters, b.filters, rows, cols, schema))
        for rows, cols in blocked_pairs(a.block_rows, a.block_keys, b.block_rows, b.block_keys, m)
    ]
    rows = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    cols = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    levels = np.concatenate([p[2] for p in parts]) if parts else np.empty((0, len(schema.segments)), np.int8)
    fitted = fit_model(a.filters, b.filters, levels, schema)
    compared = int(rows.size)
    if chosen == "dense":  # every pair was looked at: those outside the blocks that look alike are scored too
        near = dense_candidates(a.filters, b.filters, DENSE_PREFILTER, schema=schema, workers=workers)
        outside = np.setdiff1d(near.rows * np.int64(m) + near.cols, rows * np.int64(m) + cols, assume_unique=False)
        if outside.size:
            er, ec = outside // m, outside % m
            rows, cols = np.concatenate([rows, er]), np.concatenate([cols, ec])
            levels = np.concatenate([levels, segment_levels(a.filters, b.filters, er, ec, schema)])
        compared = len(a) * len(b)
    result, above = _assign_by_weight(rows, cols, fitted.weights(levels), limit, m)
    extra: dict[str, Any] = {"model": fitted.summary()}
    if chosen == "blocked":
        result, more, extra["remainder"] = _remainder_pass(a, b, result, fitted, limit, schema, workers)
        above += more
        compared += extra["remainder"]["pairs"]
    return result, MatchStats(chosen, compared, above, len(result), extra)


def _assign_by_weight(
    rows: I64, cols: I64, weights: npt.NDArray[np.float64], limit: float, m: int
) -> tuple[Candidates, int]:
    """Pairs whose match probability reaches ``limit``, one to one by descending match weight (probabilities
    saturate at 1), the probability being the score; and how many pairs reached it."""
    probability = 1.0 / (1.0 + np.exp2(-np.clip(weights, -1000, 1000)))
    keep = probability >= limit
    assigned = assign_greedy(Candidates(rows[keep], cols[keep], weights[keep].astype(np.float32)))
    code = rows * np.int64(m) + cols  # m: the number of columns
    order = np.argsort(code)
    where = order[np.searchsorted(code[order], assigned.rows * np.int64(m) + assigned.cols)]
    return Candidates(assigned.rows, assigned.cols, probability[where].astype(np.float32)), int(keep.sum())


def _remainder_pass(
    a: Encoded, b: Encoded, found: Candidates, fitted: FittedModel, limit: float, schema: Schema, workers: int | None
) -> tuple[Candidates, int, dict[str, int]]:
    """Blocking loses a person whose name, date, identifiers and address keys all changed at once. The offer's
    subjects left without a hit and the records left unmatched are few next to the whole, so when they make at
    most ``REMAINDER_LIMIT`` pairs they are compared all against all (the pairs outside the blocks prefiltered by
    weighted Dice ``DENSE_PREFILTER``, as on the dense path) and decided by the same fitted model and threshold.
    A pair sharing a blocking key cannot gain here: had it reached the threshold, the greedy assignment would have
    taken it, since both its sides are still free."""
    free_r = np.setdiff1d(np.arange(len(a), dtype=np.int64), found.rows)
    free_c = np.setdiff1d(np.arange(len(b), dtype=np.int64), found.cols)
    pairs = int(free_r.size) * int(free_c.size)
    stats = {"offer": int(free_r.size), "records": int(free_c.size), "pairs": 0, "assigned": 0}
    if pairs == 0 or pairs > REMAINDER_LIMIT:
        return found, 0, stats
    near = dense_candidates(a.filters[free_r], b.filters[free_c], DENSE_PREFILTER, schema=schema, workers=workers)
    rows, cols = free_r[near.rows], free_c[near.cols]
    levels = segment_levels(a.filters, b.filters, rows, cols, schema)
    more, above = _assign_by_weight(rows, cols, fitted.weights(levels), limit, len(b))
    stats |= {"pairs": pairs, "assigned": len(more)}
    return Candidates.concat([found, more]), above, stats


def match(
    a: Encoded,
    b: Encoded,
    threshold: float | None = None,
    *,
    schema: Schema = DEFAULT_SCHEMA,
    strategy: Literal["auto", "dense", "blocked"] = "auto",
    workers: int | None = None,
) -> tuple[Candidates, MatchStats]:
    """Score, threshold and assign one to one. ``auto`` scores every pair when there are few enough (exact),
    and only pairs sharing a blocking key beyond ``DENSE_LIMIT``. With a ``LevelModel`` (v3) the scores are match
    probabilities of the model fitted on these two sets (``_model_match``)."""
    limit = schema.threshold if threshold is None else threshold
    chosen = strategy
    if chosen == "auto":
        chosen = "dense" if len(a) * len(b) <= DENSE_LIMIT else "blocked"
    if schema.model is not None:
        return _model_match(a, b, limit, schema, chosen, workers)
    if chosen == "dense":
        found = dense_candidates(a.filters, b.filters, limit, schema=schema, workers=workers)
        compared = len(a) * len(b)
    else:
        found, compared = blocked_candidates(a, b, limit, schema=schema)
    assigned = assign_greedy(found)
    return assigned, MatchStats(chosen, compared, len(found), len(assigned))
