"""The optional address segment (schema ``alianza-clk-v2``): agreement raises a score, absence changes nothing."""

from __future__ import annotations

import numpy as np

from alianza.matching import bloom

SECRET = b"a-secret-the-two-nodes-agreed-on-32b"

PERSON = {"given_name": "Rosa", "surname": "Martínez Ruiz", "birth_date": "1984-07-19"}
TYPO = {"given_name": "Rossa", "surname": "Martines Ruiz", "birth_date": "1984-07-19"}
ADDRESS = {"address": "Calle Mayor 12, 3º B", "city": "Guadalajara", "postcode": "44100", "state": "Jalisco"}
ADDRESS_CASE = {"address": "CALLE MAYOR 12 3º B", "city": "GUADALAJARA", "postcode": "44 100", "state": "jalisco"}
ELSEWHERE = {"address": "Av. Juárez 880", "city": "Monterrey", "postcode": "64000", "state": "Nuevo León"}


def _score(a: dict[str, str], b: dict[str, str], schema: bloom.Schema) -> float:
    enc = bloom.Encoder(SECRET, schema)
    fa, fb = enc.encode([a]).filters, enc.encode([b]).filters
    one = np.zeros(1, np.int64)
    numpy = float(bloom.pair_scores(fa, fb, one, one, schema=schema, kernel="numpy")[0])
    auto = float(bloom.pair_scores(fa, fb, one, one, schema=schema)[0])  # the C kernel when built
    assert auto == numpy
    return auto


def test_v2_is_v1_plus_an_address_segment() -> None:
    v1, v2 = bloom.V1_SCHEMA, bloom.ADDRESS_SCHEMA
    assert v1.name == bloom.SCHEMA == "alianza-clk-v1" and v2.name == "alianza-clk-v2"
    assert bloom.schema_named("alianza-clk-v2") is v2
    assert len(v2.segments) <= 7  # the C kernel's limit
    assert v2.segments[: len(v1.segments)] == v1.segments
    assert v2.fingerprint != v1.fingerprint
    addr = v2.segment("address")
    assert addr.first_word == v1.words and addr.first_word + addr.words == v2.words


def test_address_agreement_raises_the_score() -> None:
    v2 = bloom.ADDRESS_SCHEMA
    bare = _score(PERSON, TYPO, v2)
    same = _score(PERSON | ADDRESS, TYPO | ADDRESS_CASE, v2)  # the same address, written otherwise
    other = _score(PERSON | ADDRESS, TYPO | ELSEWHERE, v2)
    assert same > bare + 0.02
    assert other < bare


def test_no_address_leaves_the_score_unchanged() -> None:
    v1, v2 = bloom.V1_SCHEMA, bloom.ADDRESS_SCHEMA
    bare = _score(PERSON, TYPO, v1)
    # without addresses, or with one on a single side, v2 scores exactly as v1 does
    assert _score(PERSON, TYPO, v2) == bare
    assert _score(PERSON | ADDRESS, TYPO, v2) == bare
    assert _score(PERSON, TYPO | ADDRESS, v2) == bare
    # v1 ignores addresses altogether
    assert _score(PERSON | ADDRESS, TYPO | ELSEWHERE, v1) == bare
    # and a subject without address encodes under v2 as v1's filter followed by zero words
    f1 = bloom.Encoder(SECRET, v1).encode([PERSON]).filters
    f2 = bloom.Encoder(SECRET, v2).encode([PERSON]).filters
    assert np.array_equal(f2[:, : v1.words], f1) and not f2[:, v1.words :].any()


def test_address_read_from_ftm_properties() -> None:
    nested = {
        "schema": "Person",
        "properties": {
            "name": ["Rosa Martínez Ruiz"],
            "addressEntity": [
                {
                    "schema": "Address",
                    "properties": {
                        "street": ["Calle Mayor 12"],
                        "city": ["Guadalajara"],
                        "postalCode": ["44100"],
                        "region": ["Jalisco"],
                    },
                }
            ],
        },
    }
    subject = bloom.subject_of(nested)
    assert subject.address == bloom.Address(("calle", "mayor", "12"), "guadalajara", "44100", "jalisco")
    flat = bloom.subject_of({"name": "Rosa Martínez", "address": ["Calle Mayor 12"], "postalCode": "44 100"})
    assert flat.address.street == ("calle", "mayor", "12") and flat.address.postcode == "44100"
    assert not bloom.subject_of({"name": "Rosa Martínez"}).address
