"""The three engines of the pair join and comparison step give the same resolution, bit for bit.

Spark runs for real, in local mode (its JVM and Python workers on this machine); DuckDB in process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from alianza.errors import ValidationError
from alianza.matching import engines
from alianza.matching.engines import DuckDBEngine, NumpyEngine, RuleKeys, SparkEngine, engine_named
from alianza.matching.generator import generate_pair_sets
from alianza.matching.resolution import Resolution, Settings, dedupe, link


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    engine = SparkEngine("local[2]")
    session = engine.session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sets() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    return generate_pair_sets(1500, seed=7)


def _same(a: Resolution, b: Resolution) -> None:
    assert len(a) == len(b) > 0
    assert np.array_equal(a.li, b.li)
    assert np.array_equal(a.ri, b.ri)
    assert np.array_equal(a.rules, b.rules)
    assert np.array_equal(a.levels, b.levels)
    assert a.stats["skipped_block_pairs"] == b.stats["skipped_block_pairs"]
    assert np.array_equal(a.weights, b.weights)
    assert [(m.left_id, m.right_id) for m in a.matches()] == [(m.left_id, m.right_id) for m in b.matches()]


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_link_gives_the_same_pairs_levels_and_matches(engine: str, spark: Any, sets: Any) -> None:
    left, right, truth = sets
    reference = link(left, right, Settings())
    other = link(left, right, Settings(engine=engine))
    assert other.stats["engine"] == engine and reference.stats["engine"] == "numpy"
    _same(reference, other)
    found = {(m.left_id, m.right_id) for m in other.matches()}
    assert len(found & truth) > 0.9 * len(truth)


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_dedupe_and_oversized_blocks_agree(engine: str, spark: Any, sets: Any) -> None:
    left, right, _ = sets
    records = left + [dict(r, id=f"r{r['id']}") for r in right]
    small_blocks = Settings(max_block_pairs=20)  # many blocks left out: the engines must count them alike
    reference = dedupe(records, small_blocks)
    assert reference.stats["skipped_block_pairs"] > 0
    _same(reference, dedupe(records, Settings(max_block_pairs=20, engine=engine)))
    assert reference.clusters() == dedupe(records, Settings(max_block_pairs=20, engine=engine)).clusters()


def test_key_join_of_every_engine_on_hand_made_keys(spark: Any) -> None:
    """Keys where a record repeats a key, a key only one side has, a block at the limit and one over it."""
    keys = [
        RuleKeys(
            left_key=np.array([1, 1, 2, 3, 3, 3, 4], dtype=np.int64),
            left_idx=np.array([0, 0, 1, 2, 3, 4, 5], dtype=np.int64),
            right_key=np.array([1, 3, 3, 5], dtype=np.int64),
            right_idx=np.array([9, 7, 8, 6], dtype=np.int64),
        ),
        RuleKeys(
            left_key=np.array([8, 8], dtype=np.int64),
            left_idx=np.array([0, 2], dtype=np.int64),
            right_key=np.array([8], dtype=np.int64),
            right_idx=np.array([9], dtype=np.int64),
        ),
    ]
    results = [e.pairs(keys, 10, False, 4) for e in (NumpyEngine(), DuckDBEngine(), SparkEngine("local[2]"))]
    for got in results:
        # key 1: record 0 twice × 9 → (0, 9) once, block size 2; key 3: 3 × 2 = 6 > 4, left out; rule 1: (2, 9)
        assert list(zip(got.li.tolist(), got.ri.tolist(), got.rules.tolist(), strict=True)) == [(0, 9, 0), (2, 9, 1)]
        assert got.skipped == 6


def test_no_pairs_at_all(spark: Any) -> None:
    empty = np.zeros(0, dtype=np.int64)
    keys = [RuleKeys(np.array([1], dtype=np.int64), np.array([0], dtype=np.int64), empty, empty)]
    for engine in (NumpyEngine(), DuckDBEngine(), SparkEngine("local[2]")):
        got = engine.pairs(keys, 3, False, 100)
        assert len(got.li) == 0 and got.skipped == 0


def test_comparison_in_chunks_changes_nothing(monkeypatch: pytest.MonkeyPatch, sets: Any) -> None:
    left, right, _ = sets
    whole = link(left, right)
    monkeypatch.setattr(engines, "CHUNK_PAIRS", 257)
    _same(whole, link(left, right))


def test_unknown_engine_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="Unknown matching engine 'hadoop'; use one of: numpy, duckdb, spark"):
        engine_named("hadoop")
