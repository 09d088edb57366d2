"""Keyed Bloom-filter encodings of persons and the kernel that compares them (hit/no-hit matching).

Why this exists: the two nodes must learn whether the partner holds a subject without either side revealing
what the other does not also hold (FIU.net's anonymous matching). Each subject is encoded as a
*cryptographic long-term key* (CLK, Schnell et al. 2009/2011): q-grams and exact tokens of its normalised name
parts, date of birth and identifiers, each hashed with HMAC-SHA256 under a secret the two nodes share, set
bits in a 1024-bit filter. Without the secret the filter cannot be recomputed from a guessed name, and two
encodings made under different secrets share no structure, so they are compared only when both sides prove
they use the same secret and schema (``secret_fingerprint``, ``Schema.fingerprint``): a mismatch is refused,
never silently turned into "no hit".

Schema ``alianza-clk-v1`` (every parameter below enters the schema fingerprint):

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

Schema ``alianza-clk-v2`` (``ADDRESS_SCHEMA``, opt-in; v1 stays the default): v1 plus a fourth segment,
``address`` (words 16–21, weight 0.30), holding the bigrams of the street lines (``street``), of the city or
suburb (``city``), the postcode exactly and as positional digits (``postcode``, ``postcode_digits``) and the
state or region exactly (``state``), read from FtM ``address``/``addressEntity`` (``street``, ``city``,
``postalCode``, ``region``/``state``) or plain keys (``address``, ``city``, ``postcode``, ``state``; FEBRL's
``address_1``… too). Its keys are derived under v1's label, so a subject without an address encodes to v1's
filter plus zero words and any pair lacking an address on one side scores exactly as under v1. On FEBRL4, whose
pairs differ mostly in typos, it lifts F1 at 0.76 from 0.919 to 0.959 (``matching_private.json``).

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
descending score (as anonlink's greedy solver does): one subject, at most one hit.
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
        canary_keys = [block_tokens(s) for s in samples]
        blob = json.dumps([self.parameters(), canary, canary_keys], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


DEFAULT_SCHEMA = Schema(
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
    segments=(*DEFAULT_SCHEMA.segments, Segment("address", 16, 6, 0.30)),
    fields=(
        *DEFAULT_SCHEMA.fields,
        FieldSpec("street", "address", 3),
        FieldSpec("city", "address", 4),
        FieldSpec("postcode", "address", 8),
        FieldSpec("postcode_digits", "address", 2),
        FieldSpec("state", "address", 4),
    ),
    threshold=0.76,
    keys=SCHEMA,
)
SCHEMAS = {SCHEMA: DEFAULT_SCHEMA, SCHEMA_V2: ADDRESS_SCHEMA}


def schema_named(name: str) -> Schema:
    """``alianza-clk-v1`` (the default) or ``alianza-clk-v2`` (with addresses)."""
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


def block_tokens(subject: Subject) -> list[str]:
    """Plaintext blocking keys: two encodings of one person share at least one unless both name and dates moved."""
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
    return sorted(keys)[:MAX_BLOCK_KEYS]


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
            for token in block_tokens(subject):
                rows.append(i)
                keys.append(self.block_key(token))
        filters = np.frombuffer(bytes(raw), dtype="<u8").astype(np.uint64).reshape(-1, self.schema.words)
        return Encoded(filters, np.asarray(rows, dtype=np.int64), np.asarray(keys, dtype=np.uint64))


# --- kernel ----------------------------------------------------------------------------------------------------


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
    schema: Schema = DEFAULT_SCHEMA,
    score: ScoreKind = "segments",
    workers: int | None = None,
    tile_rows: int = 16,
    tile_cols: int = 512,
    kernel: KernelKind = "auto",
) -> Candidates:
    """All pairs of ``a`` × ``b`` scoring at least ``threshold``, in tiles (memory ∝ tile, not n × m).
    ``kernel``: the C extension when built (``auto``), or forced; ``tile_*`` concern the NumPy kernel only."""
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
    schema: Schema = DEFAULT_SCHEMA,
    score: ScoreKind = "segments",
    kernel: KernelKind = "auto",
) -> F32:
    """Scores of the listed pairs only (the blocked path)."""
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
    schema: Schema = DEFAULT_SCHEMA,
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
    and only pairs sharing a blocking key beyond ``DENSE_LIMIT``."""
    limit = schema.threshold if threshold is None else threshold
    chosen = strategy
    if chosen == "auto":
        chosen = "dense" if len(a) * len(b) <= DENSE_LIMIT else "blocked"
    if chosen == "dense":
        found = dense_candidates(a.filters, b.filters, limit, schema=schema, workers=workers)
        compared = len(a) * len(b)
    else:
        found, compared = blocked_candidates(a, b, limit, schema=schema)
    assigned = assign_greedy(found)
    return assigned, MatchStats(chosen, compared, len(found), len(assigned))
