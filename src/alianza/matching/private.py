"""Private hit/no-hit: ask the partner whether it holds a subject without showing it the subjects it lacks.

The protocol (one round trip through the federation, both messages signed envelopes and sealable):

1. **Offer** (asker). An analyst selects subjects. ``make_offer(records, secret)`` encodes them with
   ``matching.bloom`` under the secret the two nodes share and returns a ``PreparedOffer``: the ``payload`` to
   send (offer id, schema name and fingerprint, secret fingerprint, filters, keyed blocking keys, and opaque
   refs that are random per offer — never record ids, never reused) and the ``local_refs`` table (ref → our
   record id) that stays home, stored as ``MatchOffer(direction="sent")``. The caller queues the payload with
   ``outbox.enqueue(session, partner, "match_offer", offer_id, payload)`` in the same transaction and audits
   ``match.offer_sent`` with the count (the subjects' identities are in the offer table, not the audit detail).
2. **Answer** (holder). The ``match_offer`` ingress handler calls ``answer_offer(payload, own_records, secret)``
   on its own premises. An offer made under another secret or schema is refused (``ValidationError`` naming the
   fingerprint), an empty or oversized one too. The answer's ``payload`` holds only the hits: (offer ref, hit
   ref, score), with hit refs random per answer; our non-matching subjects leave no trace in it, not even a
   count. ``local_hits`` (hit ref → our record id) stays home as ``MatchHit(side="holder")`` rows. The handler
   queues the payload as a ``match_result`` envelope and audits ``match.offer_answered`` with the hit count.
   Which own records take part is the holder's policy: by default its own, unpurged Person records, never
   records the partner released to it (those would only echo the partner's data back).
3. **Result** (asker). The ``match_result`` handler calls ``read_result(payload, offer_id, local_refs)`` which
   checks the answer against the offer (same offer id, known refs, one hit per ref, scores in range) and returns
   ``(our record id, hit ref, score)`` rows, stored as ``MatchHit(side="asker")`` for the analyst.
4. **Request**. A hit is not a disclosure: the analyst turns it into a formal request — a ``request`` envelope
   with ``reference="match:<offer id>:<hit ref>"``. The holder's ingress resolves the hit ref to its own record
   with ``holder_hits(session, partner, offer_id, hit_ref)`` and calls ``releases.service.register_request(...,
   record_ids=...)``; from there the request goes through review and the release gate like any release, and the
   asker still learns nothing until a legal reviewer approves a release.

What this protects and what it does not: a relay or log sees only sealed envelopes; without the secret the
filters cannot be recomputed from guessed names. The holder *does* hold the secret, so it could test guessed
persons against an offer (a dictionary attack on the filters) — as in FIU.net's Ma3tch, the protection against
the partner is procedural: offers are bounded (``MAX_SUBJECTS``), logged on both sides, and made under an
agreement. Rotating the secret (``derive_secret`` with a new epoch) makes old offers incomparable with new ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets as pysecrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alianza.errors import ValidationError, problem
from alianza.matching import bloom

PROTOCOL = "alianza-hit-no-hit-v1"
MAX_SUBJECTS = 50_000
MAX_OWN_RECORDS = 5_000_000
_REF_BYTES = 6


@dataclass(frozen=True)
class PreparedOffer:
    """``payload`` goes to the partner; ``local_refs`` (ref → our record id) never leaves the node."""

    offer_id: str
    payload: dict[str, Any]
    local_refs: dict[str, str]


@dataclass(frozen=True)
class AnsweredOffer:
    """``payload`` (only the hits) goes back; ``local_hits`` (hit ref → our record id) never leaves the node."""

    offer_id: str
    payload: dict[str, Any]
    local_hits: dict[str, str]
    hits: list[tuple[str, str, float]]  # (offer ref, hit ref, score)
    compared: int


@dataclass(frozen=True)
class ResultHit:
    record_id: str
    hit_ref: str
    score: float


def _refuse(field: str | None, template: str, **params: Any) -> ValidationError:
    return ValidationError(template, details=[problem(field, template, **params)], **params)


def derive_secret(own_seal_key: X25519PrivateKey, partner_seal_key: str | bytes, epoch: str) -> bytes:
    """The matching secret of a pair of nodes, derived from their X25519 sealing keys (ECDH + HKDF-SHA256):
    both nodes compute it alone, nobody between them can, and a new ``epoch`` (e.g. "2026-Q1") rotates it."""
    raw = base64.b64decode(partner_seal_key) if isinstance(partner_seal_key, str) else partner_seal_key
    shared = own_seal_key.exchange(X25519PublicKey.from_public_bytes(raw))
    own = own_seal_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    salt = hashlib.sha256(b"".join(sorted((own, raw)))).digest()  # the same on both sides
    info = f"{bloom.SCHEMA}|matching-secret|{epoch}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared)


def _record_id(record: Any, index: int) -> str:
    value = getattr(record, "id", None)
    if value is None and isinstance(record, Mapping):
        value = record.get("id")
    if value is None:
        raise _refuse("records", "Subject {index} has no id; every offered subject must be one of our records.",
                      index=index)  # fmt: skip
    return str(value)


def _new_refs(count: int) -> list[str]:
    refs: set[str] = set()
    while len(refs) < count:
        refs.add(pysecrets.token_hex(_REF_BYTES))
    return list(refs)


def _b64(array: np.ndarray[Any, Any], dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(dtype).tobytes()).decode("ascii")


def make_offer(
    records: Iterable[Any],
    secret: bytes,
    *,
    schema: bloom.Schema = bloom.DEFAULT_SCHEMA,
    max_subjects: int = MAX_SUBJECTS,
) -> PreparedOffer:
    """Encode ``records`` (``Record`` objects, FtM dicts or plain dicts, each with an ``id``) as an offer.

    Subjects are shuffled before encoding so that the order of the offer says nothing about our ids or dates."""
    items = list(records)
    if not items:
        raise _refuse("records", "An offer needs at least one subject.")
    if len(items) > max_subjects:
        raise _refuse("records", "An offer carries at most {max} subjects; this one has {count}. Split it.",
                      max=max_subjects, count=len(items))  # fmt: skip
    ids = [_record_id(r, i) for i, r in enumerate(items)]
    kinds = {getattr(r, "schema", None) or (r.get("schema") if isinstance(r, Mapping) else None) for r in items}
    if kinds - {None, "Person"}:
        raise _refuse("records", "Only persons can be offered for hit/no-hit matching.")
    if len(set(ids)) != len(ids):
        raise _refuse("records", "A subject appears twice in the offer.")
    order = list(range(len(items)))
    pysecrets.SystemRandom().shuffle(order)
    encoder = bloom.Encoder(secret, schema)
    encoded = encoder.encode(items[i] for i in order)
    refs = _new_refs(len(items))
    offer_id = uuid.uuid4().hex
    counts = np.bincount(encoded.block_rows, minlength=len(items)) if encoded.block_rows.size else np.zeros(len(items))
    payload = {
        "protocol": PROTOCOL,
        "offer_id": offer_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "schema": schema.name,
        "schema_fingerprint": schema.fingerprint,
        "secret_fingerprint": bloom.secret_fingerprint(secret),
        "count": len(items),
        "refs": refs,
        "filters": encoded.filters_b64(),
        "block_counts": _b64(counts, "u1"),
        "block_keys": _b64(encoded.block_keys, "<u8"),
    }
    return PreparedOffer(offer_id, payload, {ref: ids[i] for ref, i in zip(refs, order, strict=True)})


def _decode(payload: Mapping[str, Any], key: str, dtype: str, count: int | None) -> np.ndarray[Any, Any]:
    text = payload.get(key)
    if not isinstance(text, str):
        raise _refuse(key, "The offer lacks '{key}'.", key=key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(key, "The offer's '{key}' is not valid base64.", key=key) from None
    size = np.dtype(dtype).itemsize
    if len(raw) % size or (count is not None and len(raw) // size != count):
        raise _refuse(key, "The offer's '{key}' has the wrong length.", key=key)
    return np.frombuffer(raw, dtype=dtype)


def check_offer(
    payload: Any, secret: bytes, *, schema: bloom.Schema = bloom.DEFAULT_SCHEMA, max_subjects: int = MAX_SUBJECTS
) -> tuple[str, list[str], bloom.Encoded]:
    """Validate an incoming offer whole (it comes from another node) and decode it."""
    if not isinstance(payload, Mapping) or payload.get("protocol") != PROTOCOL:
        raise _refuse("protocol", "This is not a hit/no-hit offer of protocol {protocol}.", protocol=PROTOCOL)
    offer_id = payload.get("offer_id")
    if not isinstance(offer_id, str) or not 8 <= len(offer_id) <= 64:
        raise _refuse("offer_id", "The offer has no valid id.")
    if payload.get("schema") != schema.name or payload.get("schema_fingerprint") != schema.fingerprint:
        raise _refuse(
            "schema_fingerprint",
            "The offer was encoded with schema {theirs}, which differs from ours ({ours}); both nodes must run the "
            "same encoding version before they can compare.",
            theirs=str(payload.get("schema")),
            ours=schema.name,
        )
    if payload.get("secret_fingerprint") != bloom.secret_fingerprint(secret):
        raise _refuse(
            "secret_fingerprint",
            "The offer was encoded under a different matching secret than ours; agree on the secret (or its "
            "epoch) with the partner and send the offer again.",
        )
    count = payload.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _refuse("count", "An offer needs at least one subject.")
    if count > max_subjects:
        raise _refuse("count", "An offer carries at most {max} subjects; this one has {count}.",
                      max=max_subjects, count=count)  # fmt: skip
    refs = payload.get("refs")
    if (
        not isinstance(refs, list)
        or len(refs) != count
        or not all(isinstance(r, str) and 0 < len(r) <= 32 for r in refs)
        or len(set(refs)) != count
    ):
        raise _refuse("refs", "The offer needs one distinct short ref per subject.")
    filters = _decode(payload, "filters", "<u8", count * schema.words).astype(np.uint64).reshape(count, schema.words)
    block_counts = _decode(payload, "block_counts", "u1", count).astype(np.int64)
    keys = _decode(payload, "block_keys", "<u8", None).astype(np.uint64)
    if int(block_counts.sum()) != keys.size or int(block_counts.max(initial=0)) > bloom.MAX_BLOCK_KEYS:
        raise _refuse("block_keys", "The offer's blocking keys do not add up.")
    rows = np.repeat(np.arange(count, dtype=np.int64), block_counts)
    return offer_id, list(refs), bloom.Encoded(filters, rows, keys)


def answer_offer(
    payload: Any,
    own_records: Sequence[Any],
    secret: bytes,
    threshold: float | None = None,
    *,
    schema: bloom.Schema = bloom.DEFAULT_SCHEMA,
    strategy: str = "auto",
    workers: int | None = None,
) -> AnsweredOffer:
    """Compare an offer with our own records; the returned ``payload`` carries the hits and nothing else."""
    offer_id, refs, theirs = check_offer(payload, secret, schema=schema)
    if len(own_records) > MAX_OWN_RECORDS:
        raise _refuse("records", "Too many own records to compare at once ({count}).", count=len(own_records))
    limit = schema.threshold if threshold is None else float(threshold)
    if not 0.0 < limit <= 1.0:
        raise _refuse("threshold", "The threshold must be above 0 and at most 1.")
    ours_ids = [_record_id(r, i) for i, r in enumerate(own_records)]
    hits: list[tuple[str, str, float]] = []
    local: dict[str, str] = {}
    compared = 0
    if own_records:
        ours = bloom.Encoder(secret, schema).encode(own_records)
        mode = strategy if strategy in ("auto", "dense", "blocked") else "auto"
        assigned, stats = bloom.match(theirs, ours, limit, schema=schema, strategy=mode, workers=workers)  # type: ignore[arg-type]
        compared = stats.compared
        # Hits in random order with fresh refs: neither the order nor the refs hint at our record ids.
        hit_refs = _new_refs(len(assigned))
        order = list(range(len(assigned)))
        pysecrets.SystemRandom().shuffle(order)
        for hit_ref, k in zip(hit_refs, order, strict=True):
            row, col, score = int(assigned.rows[k]), int(assigned.cols[k]), float(assigned.scores[k])
            hits.append((refs[row], hit_ref, round(score, 3)))
            local[hit_ref] = ours_ids[col]
    result = {
        "protocol": PROTOCOL,
        "offer_id": offer_id,
        "answer_id": uuid.uuid4().hex,
        "schema": schema.name,
        "schema_fingerprint": schema.fingerprint,
        "secret_fingerprint": bloom.secret_fingerprint(secret),
        "threshold": limit,
        "hits": [{"offer_ref": o, "hit_ref": h, "score": s} for o, h, s in hits],
    }
    return AnsweredOffer(offer_id, result, local, hits, compared)


def read_result(
    payload: Any, offer: PreparedOffer | str, local_refs: Mapping[str, str] | None = None
) -> list[ResultHit]:
    """Check a partner's answer against our offer and map its hits to our record ids."""
    offer_id, refs = (offer.offer_id, offer.local_refs) if isinstance(offer, PreparedOffer) else (offer, local_refs)
    if refs is None:
        raise _refuse("offer", "Give the offer's local refs to read its result.")
    if not isinstance(payload, Mapping) or payload.get("protocol") != PROTOCOL:
        raise _refuse("protocol", "This is not a hit/no-hit result of protocol {protocol}.", protocol=PROTOCOL)
    if payload.get("offer_id") != offer_id:
        raise _refuse("offer_id", "The result answers another offer.")
    hits = payload.get("hits")
    if not isinstance(hits, list) or len(hits) > len(refs):
        raise _refuse("hits", "The result's hits are malformed or more than the subjects offered.")
    out: list[ResultHit] = []
    seen_refs: set[str] = set()
    seen_hits: set[str] = set()
    for hit in hits:
        if not isinstance(hit, Mapping):
            raise _refuse("hits", "The result's hits are malformed or more than the subjects offered.")
        ref, hit_ref, score = hit.get("offer_ref"), hit.get("hit_ref"), hit.get("score")
        if (
            not isinstance(ref, str)
            or ref not in refs
            or not isinstance(hit_ref, str)
            or not 0 < len(hit_ref) <= 32
            or isinstance(score, bool)
            or not isinstance(score, int | float)
            or not 0.0 <= float(score) <= 1.0
        ):
            raise _refuse("hits", "A hit names an unknown subject or has an invalid score.")
        if ref in seen_refs or hit_ref in seen_hits:
            raise _refuse("hits", "A subject or a hit appears twice in the result.")
        seen_refs.add(ref)
        seen_hits.add(hit_ref)
        out.append(ResultHit(refs[ref], hit_ref, float(score)))
    return out


def own_candidates(records: Iterable[Any]) -> list[Any]:
    """The holder's default selection: its own unpurged Person records (never partner-released ones)."""
    out = []
    for record in records:
        if getattr(record, "schema", "Person") != "Person":
            continue
        if getattr(record, "partner", None) is not None or getattr(record, "purged_at", None) is not None:
            continue
        out.append(record)
    return out
