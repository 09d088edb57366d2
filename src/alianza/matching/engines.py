"""Where the two heavy steps of entity resolution run: joining blocking keys into candidate pairs, and comparing
each pair (``features``). Three engines give the same pairs, rules and levels, so the same model and decisions:

* ``numpy`` — in memory: sorted key arrays joined with ``searchsorted``; comparisons in chunks of pairs.
* ``duckdb`` — the key join is SQL in DuckDB, which spills to disk when the join outgrows memory and sorts the
  pairs out of core; the comparisons run in NumPy over the pairs it returns, chunk by chunk.
* ``spark`` — Apache Spark, for sets that outgrow one machine: the same SQL join on Spark, then every partition of
  pairs compared by the same NumPy functions (``mapInArrow``), with both record sets broadcast to the executors.
  ``local[*]`` runs Spark inside this machine (as the tests do); a cluster's executors need ``alianza`` installed.

The pair join and the comparison step are the parts that grow with the square of the data; parsing the records
(``features.prepare``), the u sample and EM (on distinct level patterns) stay on the driver. Comparisons are
per-pair functions, so cutting the pairs into chunks or partitions cannot change a level — that is what makes
the engines interchangeable, and ``tests/matching/test_engines.py`` holds them to it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from alianza.errors import ConfigurationError, ValidationError
from alianza.matching.features import ALL_COMPARISONS, Comparison, IntArray, LevelArray, Prepared

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_PAIRS = 1 << 20
"""Pairs compared at once: bounds the comparison step's temporary arrays (a few dozen bytes per pair)."""


@dataclass(frozen=True)
class RuleKeys:
    """One blocking rule's keys: ``left_idx[i]`` has key ``left_key[i]`` (an integer per distinct key string of
    the rule). A record with several keys appears several times. In a deduplication, right is left."""

    left_key: IntArray
    left_idx: IntArray
    right_key: IntArray
    right_idx: IntArray


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs, each once, sorted by (left, right), with the index of the first rule that found it and the
    number of pairs left out because their block was larger than allowed."""

    li: IntArray
    ri: IntArray
    rules: npt.NDArray[np.int8]
    skipped: int


class Engine(Protocol):
    """What an engine does; ``resolution`` needs nothing else from it."""

    name: str

    def pairs(self, keys: Sequence[RuleKeys], n_right: int, dedupe: bool, max_block_pairs: int) -> Pairs:
        """The candidate pairs of the keys (only the join)."""
        ...

    def run(
        self,
        keys: Sequence[RuleKeys],
        comparisons: Sequence[Comparison],
        left: Prepared,
        right: Prepared,
        dedupe: bool,
        max_block_pairs: int,
    ) -> tuple[Pairs, LevelArray]:
        """The candidate pairs and the level of every comparison for each."""
        ...


def compare(
    comparisons: Sequence[Comparison], left: Prepared, right: Prepared, li: IntArray, ri: IntArray
) -> LevelArray:
    """The level of every comparison for every pair, one chunk of pairs at a time."""
    out = np.empty((len(li), len(comparisons)), dtype=np.int8)
    for start in range(0, len(li), CHUNK_PAIRS):
        a, b = li[start : start + CHUNK_PAIRS], ri[start : start + CHUNK_PAIRS]
        for k, comparison in enumerate(comparisons):
            out[start : start + len(a), k] = comparison.compute(left, right, a, b)
    return out


def _empty_pairs(skipped: int = 0) -> Pairs:
    empty = np.zeros(0, dtype=np.int64)
    return Pairs(empty, empty, np.zeros(0, dtype=np.int8), skipped)


def _sorted(li: IntArray, ri: IntArray, rules: npt.NDArray[np.int8], n_right: int, skipped: int) -> Pairs:
    order = np.argsort(li * np.int64(n_right) + ri, kind="stable")
    return Pairs(li[order], ri[order], rules[order].astype(np.int8), skipped)


# --- numpy ----------------------------------------------------------------------------------------------------


def _join_rule(keys: RuleKeys, dedupe: bool, max_block_pairs: int) -> tuple[IntArray, IntArray, int]:
    """One rule's pairs: records sharing a key, blocks over ``max_block_pairs`` left out (and counted)."""
    empty = np.zeros(0, dtype=np.int64)
    if not len(keys.left_key) or not len(keys.right_key):
        return empty, empty, 0
    ol = np.argsort(keys.left_key, kind="stable")
    orr = np.argsort(keys.right_key, kind="stable")
    kl, il = keys.left_key[ol], keys.left_idx[ol]
    kr, ir = keys.right_key[orr], keys.right_idx[orr]
    common = np.intersect1d(kl, kr, assume_unique=False)
    if len(common) == 0:
        return empty, empty, 0
    sl = np.searchsorted(kl, common, "left")
    cl = np.searchsorted(kl, common, "right") - sl
    sr = np.searchsorted(kr, common, "left")
    cr = np.searchsorted(kr, common, "right") - sr
    sizes = cl * cr
    big = sizes > max_block_pairs
    skipped = int(sizes[big].sum())
    sl, cl, sr, cr, sizes = sl[~big], cl[~big], sr[~big], cr[~big], sizes[~big]
    total = int(sizes.sum())
    if total == 0:
        return empty, empty, skipped
    block = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.cumsum(sizes) - sizes
    t = np.arange(total, dtype=np.int64) - starts[block]
    li = il[sl[block] + t // cr[block]]
    ri = ir[sr[block] + t % cr[block]]
    if dedupe:
        keep = li < ri
        li, ri = li[keep], ri[keep]
    return li, ri, skipped


class NumpyEngine:
    """Everything in this process's memory: the fastest while the pairs fit."""

    name = "numpy"

    def pairs(self, keys: Sequence[RuleKeys], n_right: int, dedupe: bool, max_block_pairs: int) -> Pairs:
        parts_l, parts_r, parts_rule = [], [], []
        skipped = 0
        for k, rule_keys in enumerate(keys):
            li, ri, big = _join_rule(rule_keys, dedupe, max_block_pairs)
            skipped += big
            parts_l.append(li)
            parts_r.append(ri)
            parts_rule.append(np.full(len(li), k, dtype=np.int8))
        if not parts_l:
            return _empty_pairs(skipped)
        li, ri, rules = np.concatenate(parts_l), np.concatenate(parts_r), np.concatenate(parts_rule)
        _, first = np.unique(li * np.int64(n_right) + ri, return_index=True)  # sorted, first rule kept
        return Pairs(li[first], ri[first], rules[first], skipped)

    def run(
        self,
        keys: Sequence[RuleKeys],
        comparisons: Sequence[Comparison],
        left: Prepared,
        right: Prepared,
        dedupe: bool,
        max_block_pairs: int,
    ) -> tuple[Pairs, LevelArray]:
        pairs = self.pairs(keys, len(right), dedupe, max_block_pairs)
        return pairs, compare(comparisons, left, right, pairs.li, pairs.ri)


# --- the SQL both DuckDB and Spark run ------------------------------------------------------------------------


def _keys_table(keys: Sequence[RuleKeys], dedupe: bool) -> pa.Table:
    """All rules' keys as one Arrow table (rule, side, key, idx); side 0 is left, 1 right (absent in a dedupe)."""
    import pyarrow as pa

    rule, side, key, idx = [], [], [], []
    for k, rk in enumerate(keys):
        sides = [(0, rk.left_key, rk.left_idx)]
        if not dedupe:
            sides.append((1, rk.right_key, rk.right_idx))
        for s, kk, ii in sides:
            rule.append(np.full(len(kk), k, dtype=np.int32))
            side.append(np.full(len(kk), s, dtype=np.int32))
            key.append(kk.astype(np.int64))
            idx.append(ii.astype(np.int64))

    def cat(parts: list[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return pa.table(
        {"rule": cat(rule, np.int32), "side": cat(side, np.int32), "key": cat(key, np.int64), "idx": cat(idx, np.int64)}
    )


# The SQL below is built from our own view names and integers only, never from input text (hence the noqa S608).


def _blocks_sql(table: str, dedupe: bool) -> str:
    """Every shared key with its block size (left count × right count), as the NumPy join counts it."""
    right_side = 0 if dedupe else 1
    return f"""
        WITH lc AS (SELECT rule, key, COUNT(*) AS n FROM {table} WHERE side = 0 GROUP BY rule, key),
             rc AS (SELECT rule, key, COUNT(*) AS n FROM {table} WHERE side = {right_side} GROUP BY rule, key)
        SELECT lc.rule AS rule, lc.key AS key, lc.n * rc.n AS size
        FROM lc JOIN rc ON lc.rule = rc.rule AND lc.key = rc.key"""  # noqa: S608


def _pairs_sql(table: str, blocks: str, dedupe: bool, max_block_pairs: int) -> str:
    """Each pair once with the first rule that found it; blocks over the limit left out."""
    right_side = 0 if dedupe else 1
    return f"""
        SELECT l.idx AS li, r.idx AS ri, MIN(l.rule) AS rule
        FROM {table} l
        JOIN {blocks} b ON l.rule = b.rule AND l.key = b.key AND b.size <= {int(max_block_pairs)}
        JOIN {table} r ON r.rule = l.rule AND r.key = l.key AND r.side = {right_side}
        WHERE l.side = 0 {"AND l.idx < r.idx" if dedupe else ""}
        GROUP BY l.idx, r.idx"""  # noqa: S608


def _skipped_sql(blocks: str, max_block_pairs: int) -> str:
    return f"SELECT COALESCE(SUM(size), 0) AS skipped FROM {blocks} WHERE size > {int(max_block_pairs)}"  # noqa: S608


# --- duckdb ---------------------------------------------------------------------------------------------------


class DuckDBEngine(NumpyEngine):
    """The key join in DuckDB (spilling to a temporary directory past ``memory_limit``), comparisons in NumPy."""

    name = "duckdb"

    def __init__(self, memory_limit: str = "4GB", threads: int | None = None) -> None:
        self.memory_limit = memory_limit
        self.threads = threads or os.cpu_count() or 1

    def pairs(self, keys: Sequence[RuleKeys], n_right: int, dedupe: bool, max_block_pairs: int) -> Pairs:
        import duckdb

        spill = tempfile.mkdtemp(prefix="alianza-duckdb-")
        try:
            con = duckdb.connect(
                config={"memory_limit": self.memory_limit, "threads": self.threads, "temp_directory": spill}
            )
            try:
                con.register("block_keys", _keys_table(keys, dedupe))
                con.execute(f"CREATE TEMP TABLE blocks AS {_blocks_sql('block_keys', dedupe)}")
                row = con.execute(_skipped_sql("blocks", max_block_pairs)).fetchone()
                skipped = int(row[0]) if row else 0
                sql = _pairs_sql("block_keys", "blocks", dedupe, max_block_pairs) + " ORDER BY li, ri"
                got = con.execute(sql).fetchnumpy()
            finally:
                con.close()
        finally:
            shutil.rmtree(spill, ignore_errors=True)
        li = np.asarray(got["li"], dtype=np.int64)
        ri = np.asarray(got["ri"], dtype=np.int64)
        return Pairs(li, ri, np.asarray(got["rule"], dtype=np.int8), skipped)


# --- spark ----------------------------------------------------------------------------------------------------


def _pack(levels: LevelArray) -> npt.NDArray[np.int64]:
    """A pair's levels as one integer, four bits a comparison (levels run from NULL = -1 to 14)."""
    code = np.zeros(len(levels), dtype=np.int64)
    for k in range(levels.shape[1]):
        code = (code << 4) | (levels[:, k].astype(np.int64) + 1)
    return code


def _unpack(code: npt.NDArray[np.int64], width: int) -> LevelArray:
    out = np.empty((len(code), width), dtype=np.int8)
    for k in range(width):
        out[:, k] = ((code >> (4 * (width - 1 - k))) & 15) - 1
    return out


def _partition_levels(
    shared: Any, names: tuple[str, ...]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark partition runs: its pairs' levels, by the same NumPy code as the other engines,
    sent back packed (``_pack``) so a pair costs the driver 21 bytes."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        left, right = shared.value
        comparisons = [ALL_COMPARISONS[n] for n in names]
        for batch in batches:
            li = batch.column(0).to_numpy().astype(np.int64)
            ri = batch.column(1).to_numpy().astype(np.int64)
            code = _pack(compare(comparisons, left, right, li, ri))
            yield pa.RecordBatch.from_arrays(
                [batch.column(0), batch.column(1), batch.column(2), pa.array(code)], names=["li", "ri", "rule", "code"]
            )

    return run


class SparkEngine:
    """Apache Spark: the key join as Spark SQL, the comparisons in the executors (``mapInArrow``), one job."""

    name = "spark"
    _lock = threading.Lock()

    def __init__(self, master: str = "local[*]", session: Any = None, driver_memory: str = "4g") -> None:
        self.master = master
        self.driver_memory = driver_memory
        self._session = session

    def session(self) -> Any:
        """The Spark session: the one given, the active one, or a new one on ``master`` (Python workers run this
        interpreter, so they import the same ``alianza``)."""
        if self._session is None:
            from pyspark.sql import SparkSession

            with self._lock:
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                self._session = SparkSession.getActiveSession() or (
                    SparkSession.builder.master(self.master)
                    .appName("alianza-matching")
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", str(max(8, 4 * (os.cpu_count() or 1))))
                    .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(CHUNK_PAIRS // 4))
                    .config("spark.driver.memory", self.driver_memory)
                    .config("spark.driver.maxResultSize", "0")
                    .getOrCreate()
                )
        return self._session

    def _pairs_frame(self, keys: Sequence[RuleKeys], dedupe: bool, max_block_pairs: int) -> tuple[Any, int, str]:
        spark = self.session()
        view = f"alianza_keys_{uuid.uuid4().hex}"
        spark.createDataFrame(_keys_table(keys, dedupe)).createOrReplaceTempView(view)
        spark.sql(_blocks_sql(view, dedupe)).cache().createOrReplaceTempView(f"{view}_blocks")
        skipped = int(spark.sql(_skipped_sql(f"{view}_blocks", max_block_pairs)).collect()[0][0])
        return spark.sql(_pairs_sql(view, f"{view}_blocks", dedupe, max_block_pairs)), skipped, view

    def _drop(self, view: str) -> None:
        catalog = self.session().catalog
        catalog.dropTempView(view)
        catalog.dropTempView(f"{view}_blocks")

    def pairs(self, keys: Sequence[RuleKeys], n_right: int, dedupe: bool, max_block_pairs: int) -> Pairs:
        frame, skipped, view = self._pairs_frame(keys, dedupe, max_block_pairs)
        try:
            got = frame.toArrow()
        finally:
            self._drop(view)
        li = got.column("li").to_numpy().astype(np.int64)
        ri = got.column("ri").to_numpy().astype(np.int64)
        return _sorted(li, ri, got.column("rule").to_numpy().astype(np.int8), n_right, skipped)

    def run(
        self,
        keys: Sequence[RuleKeys],
        comparisons: Sequence[Comparison],
        left: Prepared,
        right: Prepared,
        dedupe: bool,
        max_block_pairs: int,
    ) -> tuple[Pairs, LevelArray]:
        if len(comparisons) > 15:
            raise ValueError("at most 15 comparisons fit the packed levels")
        frame, skipped, view = self._pairs_frame(keys, dedupe, max_block_pairs)
        names = tuple(c.name for c in comparisons)
        shared = self.session().sparkContext.broadcast((left, right))
        try:
            got = frame.mapInArrow(_partition_levels(shared, names), "li long, ri long, rule int, code long").toArrow()
        finally:
            shared.unpersist()
            self._drop(view)
        li = got.column("li").to_numpy().astype(np.int64)
        ri = got.column("ri").to_numpy().astype(np.int64)
        code = got.column("code").to_numpy().astype(np.int64)
        order = np.argsort(li * np.int64(len(right)) + ri, kind="stable")  # executors answer in any order
        rules = got.column("rule").to_numpy().astype(np.int8)[order]
        pairs = Pairs(li[order], ri[order], rules, skipped)
        return pairs, _unpack(code[order], len(names))


# --- choosing ---------------------------------------------------------------------------------------------------

ENGINES = ("numpy", "duckdb", "spark")


def engine_named(name: str, *, spark_master: str = "local[*]") -> Engine:
    """The engine called ``name`` (``ENGINES``)."""
    if name == "numpy":
        return NumpyEngine()
    if name not in ENGINES:
        raise ValidationError(
            "Unknown matching engine '{engine}'; use one of: {known}.", engine=name, known=", ".join(ENGINES)
        )
    if name == "duckdb":
        return DuckDBEngine()
    try:
        import pandas  # noqa: F401  (Spark's Arrow functions need it)
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "The {engine} matching engine is not installed here ({missing}); install it with: pip install "
            "'alianza[{engine}]'.",
            engine=name,
            missing=exc.name or str(exc),
        ) from exc
    return SparkEngine(spark_master)
