"""The C Dice kernel (``alianza.matching._dice``) returns exactly what the NumPy kernel of ``bloom`` returns: the
same pairs, scores equal bit for bit, on random, sparse, empty and realistic filters and at the threshold edge."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alianza.matching import bloom

_dice: Any = pytest.importorskip("alianza.matching._dice")

WORD = st.integers(min_value=0, max_value=2**64 - 1)
SPARSE = st.sampled_from([0, 0, 1, 3, 2**63, 0xFF, 0xF0F0]) | WORD  # empty segments, empty filters, ties
ROWS = st.lists(st.lists(SPARSE, min_size=16, max_size=16), min_size=0, max_size=9)
EMPTY = [0] * 16


def _array(rows: list[list[int]], words: int = 16) -> bloom.U64:
    return np.array(rows, dtype=np.uint64).reshape(len(rows), words)


def _key(found: bloom.Candidates) -> list[tuple[int, int, int]]:
    """Pairs with the bits of their float32 score, in (row, col) order."""
    bits = found.scores.astype(np.float32).view(np.uint32)
    return sorted(zip(found.rows.tolist(), found.cols.tolist(), bits.tolist(), strict=True))


ISAS = ("avx512vpopcntdq", "avx2", "popcnt", "baseline")  # each capped to what the CPU has


def _cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere): what the kernel paths must match."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# the flags each path needs; a path may be skipped only on a CPU that lacks one of them
NEEDS = {
    "avx512vpopcntdq": {"avx512f", "avx512dq", "avx512_vpopcntdq", "popcnt"},
    "avx2": {"avx2", "popcnt"},
    "popcnt": {"popcnt"},
    "baseline": set(),
}


@contextmanager
def _isa(name: str) -> Iterator[None]:
    _dice.set_isa(name)
    try:
        yield
    finally:
        _dice.set_isa(_dice.ISA)  # back to the best, chosen at import


def _same_dense(a: bloom.U64, b: bloom.U64, threshold: float, **kw: Any) -> int:
    want = _key(bloom.dense_candidates(a, b, threshold, kernel="numpy", workers=1, **kw))
    for workers in (1, 2):
        got = bloom.dense_candidates(a, b, threshold, kernel="c", workers=workers, **kw)
        assert got.rows.dtype == np.int64 and got.cols.dtype == np.int64 and got.scores.dtype == np.float32
        assert _key(got) == want, (threshold, workers, kw)
    return len(want)


def _exact_dice(x: list[int], y: list[int]) -> float:
    inter = sum((p & q).bit_count() for p, q in zip(x, y, strict=True))
    total = sum(p.bit_count() for p in x) + sum(q.bit_count() for q in y)
    return 2.0 * inter / max(total, 1)


def _edges(values: list[float]) -> list[float]:
    """Each value, its float32 rounding and their neighbours: where ``>=`` flips."""
    out: set[float] = set()
    for v in values:
        for w in (v, float(np.float32(v))):
            out.update((w, math.nextafter(w, math.inf), math.nextafter(w, -math.inf)))
    return sorted(out)


@settings(max_examples=80, deadline=None)
@given(ROWS, ROWS, st.floats(min_value=-0.1, max_value=1.1), st.sampled_from(ISAS))
def test_dense_equals_numpy(a: list[list[int]], b: list[list[int]], threshold: float, isa: str) -> None:
    with _isa(isa):
        for score in ("dice", "segments"):
            _same_dense(_array(a), _array(b), threshold, score=score)


@settings(max_examples=40, deadline=None)
@given(ROWS, ROWS, st.data())
def test_threshold_edge_equals_numpy(a: list[list[int]], b: list[list[int]], data: st.DataObject) -> None:
    """Thresholds on the realised scores themselves (double Dice, float32 segment scores) and one ulp either side."""
    if not a or not b:
        return
    fa, fb = _array(a), _array(b)
    rows = np.repeat(np.arange(len(a), dtype=np.int64), len(b))
    cols = np.tile(np.arange(len(b), dtype=np.int64), len(a))
    segs = bloom.pair_scores(fa, fb, rows, cols, kernel="numpy").tolist()
    dice = [_exact_dice(x, y) for x in a for y in b]
    for score, values in (("dice", dice), ("segments", segs)):
        for threshold in data.draw(st.lists(st.sampled_from(_edges(values)), min_size=1, max_size=4)):
            for isa in ISAS:
                with _isa(isa):
                    _same_dense(fa, fb, threshold, score=score)


@settings(max_examples=80, deadline=None)
@given(ROWS, ROWS, st.sampled_from(ISAS))
def test_pair_scores_equal_numpy(a: list[list[int]], b: list[list[int]], isa: str) -> None:
    if not a or not b:
        return
    rows = np.repeat(np.arange(len(a), dtype=np.int64), len(b))
    cols = np.tile(np.arange(len(b), dtype=np.int64), len(a))
    with _isa(isa):
        for score in ("dice", "segments"):
            want = bloom.pair_scores(_array(a), _array(b), rows, cols, score=score, kernel="numpy")
            got = bloom.pair_scores(_array(a), _array(b), rows, cols, score=score, kernel="c")
            assert got.dtype == np.float32
            assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_empty_filters_and_empty_inputs() -> None:
    empty = _array([EMPTY, EMPTY])
    full = _array([[2**64 - 1] * 16])
    for score in ("dice", "segments"):
        assert _same_dense(empty, empty, 0.0, score=score) == 4  # a score of 0 reaches a threshold of 0
        assert _same_dense(empty, full, 0.0, score=score) == 2
        assert _same_dense(empty, empty, 1e-9, score=score) == 0
        assert _same_dense(_array([]), full, 0.0, score=score) == 0
        assert _same_dense(full, _array([]), 0.0, score=score) == 0
        assert _same_dense(full, full, 1.0, score=score) == 1
    none = np.empty(0, np.int64)
    assert bloom.pair_scores(empty, full, none, none, kernel="c").size == 0
    zero = np.zeros(1, np.int64)
    assert bloom.pair_scores(empty, full, zero, zero, kernel="c").tolist() == [0.0]


def test_realistic_filters_many_blocks_tiles_and_threads() -> None:
    """Enough rows for several row blocks per thread and columns for several tiles; near-duplicates give hits."""
    rng = np.random.default_rng(3)

    def filters(n: int, fill: float) -> bloom.U64:
        bits = rng.random((n, 1024)) < fill
        return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)

    a = filters(150, 0.22)
    a[:, 13:] = 0  # no identifiers on this side: that segment is left out of the score
    a[5] = 0
    b = filters(2300, 0.22)
    noise = (rng.random((150, 1024)) < 0.03).astype(np.uint8)
    b[: 150 * 15 : 15] = a ^ np.packbits(noise, axis=1, bitorder="little").view("<u8").astype(np.uint64)
    for isa in ISAS:
        with _isa(isa):
            for threshold in (0.0, 0.3, 0.7, 0.76, 0.9):
                for score in ("dice", "segments"):
                    _same_dense(a, b, threshold, score=score)
    assert _same_dense(a, b, 0.76) >= 140
    rows = rng.integers(0, 150, 5000)
    cols = rng.integers(0, 2300, 5000)
    want = bloom.pair_scores(a, b, rows, cols, kernel="numpy")
    assert bloom.pair_scores(a, b, rows, cols, kernel="c").view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_encoded_people_match_the_same_with_either_kernel() -> None:
    from alianza.matching.generator import generate_pair_sets

    left, right, _truth = generate_pair_sets(120, seed=3)
    enc = bloom.Encoder(b"a-secret-the-two-nodes-agreed-on-32b")
    a, b = enc.encode(left).filters, enc.encode(right).filters
    for threshold in (0.5, 0.6, bloom.DEFAULT_SCHEMA.threshold):
        for score in ("dice", "segments"):
            assert _same_dense(a, b, threshold, score=score) > 0


def test_other_schema_shapes() -> None:
    """Not 16 words, more segments, uneven weights: the generic paths."""
    schema = bloom.Schema(
        name="test",
        words=8,
        segments=tuple(
            bloom.Segment(n, lo, w, weight)
            for n, lo, w, weight in (
                ("s0", 0, 3, 0.37),
                ("s1", 3, 1, 0.11),
                ("s2", 4, 2, 0.29),
                ("s3", 6, 1, 0.13),
                ("s4", 7, 1, 0.1),
            )
        ),
        fields=(),
        threshold=0.5,
    )
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2**64, (40, 8), dtype=np.uint64) & rng.integers(0, 2**64, (40, 8), dtype=np.uint64)
    a[rng.random((40, 8)) < 0.2] = 0
    b = np.concatenate([a ^ (a & np.uint64(0x0101010101010101)), a[::3]])
    for threshold in (0.2, 0.5, 0.8, 1.0):
        for score in ("dice", "segments"):
            _same_dense(a, b, threshold, score=score, schema=schema)
    rows, cols = rng.integers(0, 40, 300), rng.integers(0, len(b), 300)
    want = bloom.pair_scores(a, b, rows, cols, schema=schema, kernel="numpy")
    got = bloom.pair_scores(a, b, rows, cols, schema=schema, kernel="c")
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_buffers_indices_and_errors() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**64, (5, 16), dtype=np.uint64)
    raw = bytearray(a.nbytes + 1)
    raw[1:] = a.tobytes()
    unaligned = memoryview(raw)[1:]
    want = _dice.dense_dice(a, a, 16, 0.1, 1)
    assert _dice.dense_dice(unaligned, a.tobytes(), 16, 0.1, 1) == want
    assert _dice.dense_dice(a, unaligned, 16, 0.1, 1) == want
    with pytest.raises(ValueError):
        _dice.set_isa("sse9")
    g, w = np.array([[0, 16]], np.int32).tobytes(), np.ones(1, np.float32).tobytes()
    with pytest.raises(ValueError):
        _dice.dense_dice(a.tobytes()[:-8], a, 16, 0.5, 1)
    with pytest.raises(ValueError):
        _dice.dense_segments(a, a, 16, np.array([[0, 17]], np.int32).tobytes(), w, 0.5, 1)
    with pytest.raises(ValueError):
        _dice.dense_segments(a, a, 16, np.zeros((8, 2), np.int32).tobytes(), np.ones(8, np.float32).tobytes(), 0.5, 1)
    # indices as NumPy takes them: negative from the end, out of range refused
    rows, cols = np.array([-1, 0], np.int64), np.array([4, -5], np.int64)
    assert (
        bloom.pair_scores(a, a, rows, cols, kernel="c").tolist()
        == bloom.pair_scores(a, a, rows, cols, kernel="numpy").tolist()
    )
    out = np.empty(1, np.float32)
    with pytest.raises(IndexError):
        _dice.pair_segments(a, a, 16, np.array([5], np.int64), np.array([0], np.int64), g, w, out)
    with pytest.raises(IndexError):
        bloom.pair_scores(a, a, np.array([0]), np.array([-6]), kernel="c")


def test_fallback_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    a = np.random.default_rng(1).integers(0, 2**64, (4, 16), dtype=np.uint64)
    want = _key(bloom.dense_candidates(a, a, 0.3, kernel="c"))
    monkeypatch.setattr(bloom, "_dice", None)
    assert _key(bloom.dense_candidates(a, a, 0.3)) == want  # auto: NumPy
    with pytest.raises(RuntimeError):
        bloom.dense_candidates(a, a, 0.3, kernel="c")


def test_each_path_is_used_when_the_cpu_has_it() -> None:
    """set_isa gives each path whenever /proc/cpuinfo has its flags; the machine that runs these tests (and the
    benchmark) has AVX-512 VPOPCNTDQ, so at least AVX2 must be there: a build without it would fail here."""
    flags = _cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags")
    for name in ISAS:
        if NEEDS[name] <= flags:
            with _isa(name):
                assert _dice.set_isa(name) == name
    if "x86_64" in __import__("platform").machine():
        assert "avx2" in flags, "this machine is expected to have AVX2 (it has AVX-512)"
        assert _dice.ISA in ("avx2", "avx512vpopcntdq")


def _require(isa: str) -> None:
    """Skip when the CPU lacks ``isa``, and only then."""
    with _isa(isa):
        if _dice.set_isa(isa) != isa:
            assert not NEEDS[isa] <= _cpu_flags(), f"the CPU has {isa} but the kernel does not use it"
            pytest.skip(f"the CPU has no {isa}")


V1 = bloom.schema_named(bloom.SCHEMA)  # 16-word filters, whatever the default schema


def _odd_filters(rng: np.random.Generator, n: int, fill: float, words: int = 16) -> bloom.U64:
    bits = rng.random((n, 64 * words)) < fill
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


@pytest.mark.parametrize("isa", ISAS)
def test_each_dice_path_equals_numpy_on_odd_sizes(isa: str) -> None:
    """Every path, forced: sizes around the 8-column groups, the 32-row blocks and the 128-column tiles of the
    16-word kernels, empty and full filters (intersections of 1024, the largest byte sums of the AVX2 path),
    near-duplicates for hits, thresholds on the realised scores, one ulp either side and out of range."""
    _require(isa)
    rng = np.random.default_rng(11)
    for n, m in ((1, 1), (1, 7), (3, 9), (33, 15), (31, 129), (65, 257), (7, 0), (0, 5)):
        a = _odd_filters(rng, n, 0.22)
        b = _odd_filters(rng, m, 0.22)
        if n and m:
            a[0] = 0
            b[-1] = 2**64 - 1
            b[: min(n, m) : 2] = a[: min(n, m) : 2] ^ _odd_filters(rng, len(b[: min(n, m) : 2]), 0.02)
        if n > 2:
            a[1] = 2**64 - 1
            a[2] = 1
        exact: list[float] = []
        if n and m:
            inter = np.bitwise_count(a[:, None, :] & b[None, :, :]).sum(axis=2)
            total = np.bitwise_count(a).sum(axis=1)[:, None] + np.bitwise_count(b).sum(axis=1)[None, :]
            exact = sorted(set((2.0 * inter / np.maximum(total, 1)).ravel().tolist()), reverse=True)[:3]
        thresholds = [-0.5, 0.0, 1e-300, 0.3, 0.7, 1.0, 1.5, math.nan, *_edges(exact)]
        with _isa(isa):
            assert _dice.set_isa(isa) == isa
            for threshold in thresholds:
                _same_dense(a, b, threshold, score="dice", schema=V1)
            _same_dense(a, b, 0.7, score="segments", schema=V1)
            assert _same_dense(a, b, 0.0, score="dice", schema=V1) == n * m
            assert _same_dense(a, b, math.nan, score="dice", schema=V1) == 0


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("words", [1, 7, 22, 31, 32, 40, 64])
def test_each_dice_path_on_other_filter_lengths(isa: str, words: int) -> None:
    """Filters of other lengths (the AVX2 path sums byte counts in runs of 31 words): the pairs and float32
    scores of the exact double Dice, computed here, with 1 and 2 threads."""
    _require(isa)
    rng = np.random.default_rng(words)
    a = _odd_filters(rng, 37, 0.3, words)
    b = _odd_filters(rng, 45, 0.3, words)
    b[::3] = a[: len(b[::3])] ^ _odd_filters(rng, len(b[::3]), 0.05, words)
    a[0], b[1] = 0, 2**64 - 1
    inter = np.bitwise_count(a[:, None, :] & b[None, :, :]).sum(axis=2)
    total = np.bitwise_count(a).sum(axis=1)[:, None] + np.bitwise_count(b).sum(axis=1)[None, :]
    dice = 2.0 * inter / np.maximum(total, 1)
    with _isa(isa):
        for threshold in (0.0, 0.4, 0.75, *_edges(sorted(set(dice.ravel().tolist()))[-2:])):
            r, c = np.nonzero(dice >= threshold)
            bits = dice[r, c].astype(np.float32).view(np.uint32)
            want = sorted(zip(r.tolist(), c.tolist(), bits.tolist(), strict=True))
            for threads in (1, 2):
                got = bloom._c_candidates(_dice.dense_dice(a, b, words, threshold, threads))
                assert _key(got) == want, (threshold, threads)


@pytest.mark.parametrize("isa", ISAS)
def test_each_dice_path_equals_numpy_on_encoded_people(isa: str) -> None:
    _require(isa)
    from alianza.matching.generator import generate_pair_sets

    left, right, _truth = generate_pair_sets(150, seed=4)
    enc = bloom.Encoder(b"a-secret-the-two-nodes-agreed-on-32b", V1)
    a, b = enc.encode(left).filters, enc.encode(right).filters
    with _isa(isa):
        for threshold in (0.5, 0.7, 0.9):
            assert _same_dense(a, b, threshold, score="dice", schema=V1) > 0
