"""The keyed Bloom-filter encoding and its kernel: exact against a pure-Python reference, keyed, one to one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alianza.errors import ValidationError
from alianza.matching import bloom

SECRET = b"a-secret-the-two-nodes-agreed-on-32b"
OTHER = b"another-secret-of-the-right-length!!"


def _popcount(x: int) -> int:
    return bin(x).count("1")


def _ref_dice(a: list[int], b: list[int]) -> float:
    inter = sum(_popcount(x & y) for x, y in zip(a, b, strict=True))
    total = sum(map(_popcount, a)) + sum(map(_popcount, b))
    return 2.0 * inter / total if total else 0.0


def _ref_segments(a: list[int], b: list[int], schema: bloom.Schema) -> float:
    num = den = 0.0
    for seg in schema.segments:
        wa, wb = a[seg.first_word : seg.first_word + seg.words], b[seg.first_word : seg.first_word + seg.words]
        if sum(map(_popcount, wa)) and sum(map(_popcount, wb)):
            num += seg.weight * _ref_dice(wa, wb)
            den += seg.weight
    return num / den if den else 0.0


WORD = st.integers(min_value=0, max_value=2**64 - 1)
# Sparse words too, so that empty segments and exact ties occur.
SPARSE = st.sampled_from([0, 1, 3, 2**63, 0xFF, 0xF0F0]) | WORD
FILTERS = st.lists(st.lists(SPARSE, min_size=16, max_size=16), min_size=1, max_size=7)


def _array(rows: list[list[int]]) -> bloom.U64:
    return np.array(rows, dtype=np.uint64).reshape(len(rows), 16)


@settings(max_examples=60, deadline=None)
@given(FILTERS, FILTERS, st.floats(min_value=0.05, max_value=1.0))
def test_dense_dice_equals_reference(a: list[list[int]], b: list[list[int]], threshold: float) -> None:
    found = bloom.dense_candidates(_array(a), _array(b), threshold, score="dice", workers=1, tile_rows=2, tile_cols=3)
    got = {(int(r), int(c)): float(s) for r, c, s in zip(found.rows, found.cols, found.scores, strict=True)}
    want = {(i, j): _ref_dice(x, y) for i, x in enumerate(a) for j, y in enumerate(b) if _ref_dice(x, y) >= threshold}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(FILTERS, FILTERS)
def test_pair_and_segment_scores_equal_reference(a: list[list[int]], b: list[list[int]]) -> None:
    rows = np.repeat(np.arange(len(a), dtype=np.int64), len(b))
    cols = np.tile(np.arange(len(b), dtype=np.int64), len(a))
    dice = bloom.pair_scores(_array(a), _array(b), rows, cols, score="dice")
    segs = bloom.pair_scores(_array(a), _array(b), rows, cols, score="segments")
    for k, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        assert dice[k] == pytest.approx(_ref_dice(a[i], b[j]), abs=1e-6)
        assert segs[k] == pytest.approx(_ref_segments(a[i], b[j], bloom.V1_SCHEMA), abs=1e-6)
    dense = bloom.dense_candidates(_array(a), _array(b), 1e-6, workers=2, tile_rows=1, tile_cols=2)
    got = {(int(r), int(c)): float(s) for r, c, s in zip(dense.rows, dense.cols, dense.scores, strict=True)}
    for (i, j), s in got.items():
        assert s == pytest.approx(_ref_segments(a[i], b[j], bloom.V1_SCHEMA), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(1, 5)), max_size=25),
    st.lists(st.tuples(st.integers(0, 6), st.integers(1, 5)), max_size=25),
    st.integers(1, 30),
)
def test_blocked_pairs_are_exactly_the_pairs_sharing_a_key(
    a: list[tuple[int, int]], b: list[tuple[int, int]], chunk: int
) -> None:
    ra, ka = np.array([r for r, _ in a], np.int64), np.array([k for _, k in a], np.uint64)
    rb, kb = np.array([r for r, _ in b], np.int64), np.array([k for _, k in b], np.uint64)
    got: list[tuple[int, int]] = []
    for rows, cols in bloom.blocked_pairs(ra, ka, rb, kb, 7, max_pairs=chunk):
        got.extend(zip(rows.tolist(), cols.tolist(), strict=True))
    want = {(i, j) for i, x in a for j, y in b if x == y}
    assert sorted(got) == sorted(want)  # every pair once, however the chunks fell


ASKED = {"name": ["José Luis Hernández García"], "birthDate": ["1984-03-07"]}
HELD = {"firstName": ["Jose Luis"], "lastName": ["Hernandes Garcia"], "birthDate": ["1984-03-07"]}
PEPE = {"name": ["Pepe Hernández García"], "birthDate": ["1984-03-07"]}
BROTHER = {"name": ["Carlos Hernández García"], "birthDate": ["1986-11-02"]}


def test_same_person_with_typo_scores_high_and_others_low() -> None:
    v1 = bloom.V1_SCHEMA  # the weighted mean of segment Dice against the schema's threshold
    enc = bloom.Encoder(SECRET, v1)
    a, b = enc.encode([ASKED]), enc.encode([HELD, PEPE, BROTHER])
    rows = np.zeros(3, np.int64)
    scores = bloom.pair_scores(a.filters, b.filters, rows, np.arange(3, dtype=np.int64), schema=v1)
    assert scores[0] >= v1.threshold
    assert scores[1] >= v1.threshold  # Pepe is a form of José
    assert scores[2] < v1.threshold - 0.1  # a brother: other given name, other date
    # and the blocking keys bring them together
    pairs = list(bloom.blocked_pairs(a.block_rows, a.block_keys, b.block_rows, b.block_keys, 3))
    assert {0, 1} <= set(np.concatenate([c for _, c in pairs]).tolist())


def test_default_model_matches_the_typo_not_the_brother() -> None:
    """v3 decides by the level model: the typo and Pepe are likelier matches than not, the brother is not."""
    schema = bloom.DEFAULT_SCHEMA
    assert schema.model is not None and 0 < schema.threshold < 1
    enc = bloom.Encoder(SECRET)
    a = enc.encode([ASKED, ASKED])
    for held, want in ((HELD, True), (PEPE, True), (BROTHER, False)):
        found, stats = bloom.match(a, enc.encode([held]))
        assert (len(found) == 1) is want, (held, stats)
        if want:
            assert found.scores[0] >= schema.threshold
    levels = bloom.segment_levels(a.filters, enc.encode([BROTHER]).filters, np.zeros(1, np.int64),
                                  np.zeros(1, np.int64), schema)  # fmt: skip
    assert levels[0, [s.name for s in schema.segments].index("address")] == -1  # no address: no evidence


def test_fitted_weights_never_fall_as_dice_rises() -> None:
    from alianza.matching.generator import generate_pair_sets

    left, right, _truth = generate_pair_sets(400, seed=5)
    enc = bloom.Encoder(SECRET)
    _found, stats = bloom.match(enc.encode(left), enc.encode(right), strategy="blocked")
    model = stats.extra["model"]
    assert model["em_iterations"] > 0 and 0 < model["prior"] < 0.5
    for seg in model["weights"][:3]:  # name, birth, ident (the generator has no addresses)
        assert seg == sorted(seg)


def test_encodings_under_another_secret_share_nothing() -> None:
    person = {"name": ["María Guadalupe López Pérez"], "birthDate": ["1990-01-02"], "idNumber": ["LOPM900102"]}
    a, b = bloom.Encoder(SECRET).encode([person]), bloom.Encoder(OTHER).encode([person])
    score = bloom.pair_scores(a.filters, b.filters, np.zeros(1, np.int64), np.zeros(1, np.int64))[0]
    assert score < 0.5
    assert not set(a.block_keys.tolist()) & set(b.block_keys.tolist())
    assert bloom.secret_fingerprint(SECRET) != bloom.secret_fingerprint(OTHER)


def test_short_secret_refused() -> None:
    with pytest.raises(ValidationError):
        bloom.Encoder(b"short")


def test_missing_birth_date_is_no_evidence_either_way() -> None:
    enc = bloom.Encoder(SECRET)
    a = enc.encode([{"name": ["Ana Sofía Ruiz Paz"], "birthDate": ["1979-05-05"]}])
    b = enc.encode([{"name": ["Ana Sofía Ruiz Paz"]}])
    assert bloom.pair_scores(a.filters, b.filters, np.zeros(1, np.int64), np.zeros(1, np.int64))[0] == 1.0


def test_schema_fingerprint_covers_parameters() -> None:
    changed = replace(
        bloom.DEFAULT_SCHEMA, fields=(*bloom.DEFAULT_SCHEMA.fields[:-1], bloom.FieldSpec("ident_bigram", "ident", 5))
    )
    assert changed.fingerprint != bloom.DEFAULT_SCHEMA.fingerprint
    assert replace(bloom.DEFAULT_SCHEMA).fingerprint == bloom.DEFAULT_SCHEMA.fingerprint
    model = bloom.DEFAULT_SCHEMA.model
    assert model is not None
    refitted = replace(bloom.DEFAULT_SCHEMA, model=replace(model, edges=(0.5, 0.7, 0.9)))
    assert refitted.fingerprint != bloom.DEFAULT_SCHEMA.fingerprint
    unblocked = replace(bloom.DEFAULT_SCHEMA, address_blocking=False)
    assert unblocked.fingerprint != bloom.DEFAULT_SCHEMA.fingerprint
    assert len({s.fingerprint for s in bloom.SCHEMAS.values()}) == 3


def test_v3_is_v2s_filter_with_address_blocking() -> None:
    v2, v3 = bloom.ADDRESS_SCHEMA, bloom.DEFAULT_SCHEMA
    assert v3.name == "alianza-clk-v3" and bloom.schema_named("alianza-clk-v3") is v3
    assert bloom.schema_named("alianza-clk-v1") is bloom.V1_SCHEMA
    person = {
        "name": ["Bo Li"], "birthDate": ["1970-01-02"], "address": ["12 Wattle Pl"], "postalCode": ["2615"],
    }  # fmt: skip
    e2, e3 = bloom.Encoder(SECRET, v2).encode([person]), bloom.Encoder(SECRET, v3).encode([person])
    assert np.array_equal(e2.filters, e3.filters)
    assert set(e2.block_keys.tolist()) < set(e3.block_keys.tolist())
    assert {"pa:2615:wattle", "na:12:wattle"} <= set(bloom.block_tokens(bloom.subject_of(person), address=True))


def test_greedy_assignment_is_one_to_one_by_descending_score() -> None:
    found = bloom.Candidates(
        np.array([0, 0, 1, 1, 2], np.int64), np.array([0, 1, 0, 1, 1], np.int64),
        np.array([0.9, 0.8, 0.95, 0.7, 0.85], np.float32),
    )  # fmt: skip
    got = bloom.assign_greedy(found)
    assert sorted(zip(got.rows.tolist(), got.cols.tolist(), strict=True)) == [(1, 0), (2, 1)]


def test_match_dense_and_blocked_agree_on_small_data() -> None:
    from alianza.matching.generator import generate_pair_sets

    left, right, truth = generate_pair_sets(300, seed=7)
    enc = bloom.Encoder(SECRET)
    a, b = enc.encode(left), enc.encode(right)
    dense, _ = bloom.match(a, b, strategy="dense", workers=2)
    blocked, stats = bloom.match(a, b, strategy="blocked")
    assert stats.compared - stats.extra["remainder"]["pairs"] < len(left) * len(right) / 10
    pairs = {(left[r]["id"], right[c]["id"]) for r, c in zip(dense.rows.tolist(), dense.cols.tolist(), strict=True)}
    assert len(pairs & truth) / len(truth) > 0.85
    assert len(pairs & truth) / len(pairs) > 0.85
    assert len(blocked) >= 0.95 * len(dense)


# A FEBRL4 duplicate that shares no blocking key with its original: given name typo (other phonetic key), no date,
# another identifier, another house number and first street word.
BROOKE = {"name": ["Brooke Burford"], "address": ["85 Smiths Road Moolooboola"], "city": ["Kinglake West"],
          "postcode": ["4560"], "state": ["nsw"], "ids": ["8804970"]}  # fmt: skip
BROOE = {"name": ["Brooe Burford"], "address": ["28 Moolooboola"], "city": ["Kinglake West"], "postcode": ["4560"],
         "state": ["nsw"], "ids": ["7438993"]}  # fmt: skip


def test_remainder_pass_finds_a_match_that_shares_no_blocking_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from alianza.matching.generator import generate_pair_sets

    left, right, _truth = generate_pair_sets(300, seed=7)
    enc = bloom.Encoder(SECRET)
    a, b = enc.encode([*left, BROOKE]), enc.encode([BROOE, *right])
    asked = len(left)
    pairs = list(bloom.blocked_pairs(a.block_rows, a.block_keys, b.block_rows, b.block_keys, len(b)))
    assert not any(((r == asked) & (c == 0)).any() for r, c in pairs)
    found, stats = bloom.match(a, b, strategy="blocked")
    assert (asked, 0) in set(zip(found.rows.tolist(), found.cols.tolist(), strict=True))
    assert found.scores[found.rows == asked][0] >= bloom.DEFAULT_SCHEMA.threshold
    remainder = stats.extra["remainder"]
    assert remainder["assigned"] >= 1 and remainder["pairs"] == remainder["offer"] * remainder["records"]
    assert len(set(found.rows.tolist())) == len(found) == len(set(found.cols.tolist()))  # still one to one
    monkeypatch.setattr(bloom, "REMAINDER_LIMIT", remainder["pairs"] - 1)  # over budget: blocking alone
    found, stats = bloom.match(a, b, strategy="blocked")
    assert asked not in found.rows.tolist() and stats.extra["remainder"]["pairs"] == 0
