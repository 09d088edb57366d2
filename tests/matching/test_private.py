"""Private hit/no-hit: the offer hides ids, the answer carries only hits, mismatched secrets or schemas are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from alianza.errors import ValidationError
from alianza.matching import bloom, private

SECRET = b"mx-us-matching-secret-2026-q1-abcdef"
OTHER = b"a-different-secret-for-another-pairx"

ASKED = [
    {"id": "mx-rec-1", "properties": {"name": ["Juan Carlos Pérez López"], "birthDate": ["1980-05-17"]}},
    {"id": "mx-rec-2", "properties": {"name": ["Rosa Elvira Cantú Ibarra"], "birthDate": ["1972-12-01"]}},
]
HIT = {
    "id": "us-rec-9",
    "properties": {"firstName": ["Juan Carlos"], "lastName": ["Peres Lopez"], "birthDate": ["1980-05-17"]},
}


def _strangers(count: int) -> list[dict[str, Any]]:
    given = ["Ana", "Luis", "Marta", "Pedro", "Lucía", "Tomás", "Irene", "Raúl"]
    surnames = ["Ortega", "Salas", "Quiroga", "Zamudio", "Beltrán", "Villa", "Nava", "Oropeza"]
    return [
        {
            "id": f"us-stranger-{i}",
            "properties": {
                "name": [f"{given[i % 8]} {surnames[(i // 8) % 8]} {surnames[(i + 3) % 8]}"],
                "birthDate": [f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}"],
            },
        }
        for i in range(count)
    ]


def test_same_secret_matches_a_typo_with_the_same_birth_date() -> None:
    offer = private.make_offer(ASKED, SECRET)
    answer = private.answer_offer(offer.payload, [HIT, *_strangers(30)], SECRET)
    assert len(answer.hits) == 1
    offer_ref, hit_ref, score = answer.hits[0]
    assert offer.local_refs[offer_ref] == "mx-rec-1"
    assert answer.local_hits[hit_ref] == "us-rec-9"
    assert score >= bloom.DEFAULT_SCHEMA.threshold
    hits = private.read_result(answer.payload, offer)
    assert [(h.record_id, h.hit_ref) for h in hits] == [("mx-rec-1", hit_ref)]


def test_offer_carries_no_record_ids_or_names() -> None:
    offer = private.make_offer(ASKED, SECRET)
    text = json.dumps(offer.payload)
    for needle in ("mx-rec", "Juan", "juan", "perez", "1980"):
        assert needle not in text
    assert set(offer.payload["refs"]) == set(offer.local_refs)
    assert not set(offer.payload["refs"]) & {"mx-rec-1", "mx-rec-2"}


def test_other_secret_is_refused_not_silently_unmatched() -> None:
    offer = private.make_offer(ASKED, OTHER)
    with pytest.raises(ValidationError) as err:
        private.answer_offer(offer.payload, [HIT], SECRET)
    assert err.value.details[0]["field"] == "secret_fingerprint"


def test_other_schema_is_refused() -> None:
    other = replace(
        bloom.DEFAULT_SCHEMA, fields=(*bloom.DEFAULT_SCHEMA.fields[:-1], bloom.FieldSpec("ident_bigram", "ident", 6))
    )
    offer = private.make_offer(ASKED, SECRET, schema=other)
    with pytest.raises(ValidationError) as err:
        private.answer_offer(offer.payload, [HIT], SECRET)
    assert err.value.details[0]["field"] == "schema_fingerprint"
    renamed = dict(private.make_offer(ASKED, SECRET).payload, schema="alianza-clk-v0")
    with pytest.raises(ValidationError):
        private.answer_offer(renamed, [HIT], SECRET)


def test_offer_of_an_earlier_schema_is_refused_by_name() -> None:
    old = private.make_offer(ASKED, SECRET, schema=bloom.V1_SCHEMA)
    with pytest.raises(ValidationError) as caught:
        private.answer_offer(old.payload, [HIT], SECRET)
    assert "alianza-clk-v1" in str(caught.value) and "alianza-clk-v3" in str(caught.value)
    # a holder that still runs v1 answers it as before
    answer = private.answer_offer(old.payload, [HIT], SECRET, schema=bloom.V1_SCHEMA)
    assert len(answer.hits) == 1 and answer.hits[0][2] >= bloom.V1_SCHEMA.threshold


def test_empty_and_oversized_offers_are_refused() -> None:
    with pytest.raises(ValidationError):
        private.make_offer([], SECRET)
    with pytest.raises(ValidationError):
        private.make_offer(_strangers(4), SECRET, max_subjects=3)
    payload = private.make_offer(ASKED, SECRET).payload
    with pytest.raises(ValidationError):
        private.answer_offer(dict(payload, count=0, refs=[]), [HIT], SECRET)
    with pytest.raises(ValidationError):
        private.answer_offer(dict(payload, count=private.MAX_SUBJECTS + 1), [HIT], SECRET)


def test_tampered_offer_is_refused() -> None:
    payload = private.make_offer(ASKED, SECRET).payload
    for broken in (
        dict(payload, filters=payload["filters"][:-8]),
        dict(payload, filters="%%%"),
        dict(payload, refs=[payload["refs"][0]] * 2),
        dict(payload, block_counts="AAA="),
        dict(payload, protocol="other"),
    ):
        with pytest.raises(ValidationError):
            private.answer_offer(broken, [HIT], SECRET)


def test_answer_holds_only_the_hits() -> None:
    offer = private.make_offer(ASKED, SECRET)
    few = private.answer_offer(offer.payload, [HIT, *_strangers(3)], SECRET)
    many = private.answer_offer(offer.payload, [HIT, *_strangers(200)], SECRET)
    for answer in (few, many):
        assert set(answer.payload) == {
            "protocol", "offer_id", "answer_id", "schema", "schema_fingerprint", "secret_fingerprint", "threshold",
            "hits",
        }  # fmt: skip
        assert len(answer.payload["hits"]) == 1
        assert set(answer.payload["hits"][0]) == {"offer_ref", "hit_ref", "score"}
        text = json.dumps(answer.payload)
        assert "us-" not in text and "stranger" not in text
    # 200 more non-matching records change nothing in what goes back (same size, same shape)
    assert len(json.dumps(few.payload)) == len(json.dumps(many.payload))
    nothing = private.answer_offer(offer.payload, _strangers(50), SECRET)
    assert nothing.payload["hits"] == [] and nothing.local_hits == {}


def test_one_to_one_two_similar_candidates_give_one_hit() -> None:
    twin = {"id": "us-rec-10", "properties": {"name": ["Juan Carlos Perez Lopes"], "birthDate": ["1980-05-17"]}}
    offer = private.make_offer(ASKED[:1], SECRET)
    answer = private.answer_offer(offer.payload, [HIT, twin], SECRET)
    assert len(answer.hits) == 1


def test_hit_refs_are_fresh_per_answer() -> None:
    offer = private.make_offer(ASKED, SECRET)
    first = private.answer_offer(offer.payload, [HIT], SECRET)
    second = private.answer_offer(offer.payload, [HIT], SECRET)
    assert first.hits[0][1] != second.hits[0][1]


def test_result_is_checked_against_the_offer() -> None:
    offer = private.make_offer(ASKED, SECRET)
    answer = private.answer_offer(offer.payload, [HIT], SECRET)
    hit = answer.payload["hits"][0]
    for bad in (
        dict(answer.payload, offer_id="0" * 32),
        dict(answer.payload, hits=[dict(hit, offer_ref="unknown")]),
        dict(answer.payload, hits=[hit, dict(hit, hit_ref="other")]),
        dict(answer.payload, hits=[dict(hit, score=1.5)]),
    ):
        with pytest.raises(ValidationError):
            private.read_result(bad, offer)


def test_derived_secret_is_the_same_on_both_nodes() -> None:
    mx, us = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    def raw(key: X25519PrivateKey) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    assert private.derive_secret(mx, raw(us), "2026-Q1") == private.derive_secret(us, raw(mx), "2026-Q1")
    assert private.derive_secret(mx, raw(us), "2026-Q1") != private.derive_secret(mx, raw(us), "2026-Q2")
    assert len(private.derive_secret(mx, raw(us), "2026-Q1")) == 32


def test_tables_keep_refs_home_and_resolve_requests() -> None:
    import alianza.accounts.models
    import alianza.records.models
    import alianza.releases.models  # noqa: F401
    from alianza.matching import private_models as pm
    from alianza.store.db import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in ("match_offers", "match_hits")])
    offer = private.make_offer(ASKED, SECRET)
    answer = private.answer_offer(offer.payload, [HIT], SECRET)
    with Session(engine) as session:
        sent = pm.store_sent(session, "us", offer)
        pm.store_answer(session, "mx", answer, subject_count=offer.payload["count"])
        pm.store_result(session, sent, private.read_result(answer.payload, offer), answer.payload["threshold"])
        hit_ref = answer.hits[0][1]
        assert [h.record_id for h in pm.holder_hits(session, "mx", offer.offer_id, hit_ref)] == ["us-rec-9"]
        assert pm.holder_hits(session, "other", offer.offer_id, hit_ref) == []
        assert sent.hit_count == 1 and sent.status == "answered"
