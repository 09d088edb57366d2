"""Entity resolution: which records, within one set or across two, are the same person or company.

The algorithm is ``alianza-fs-v1``, a Fellegi–Sunter model estimated without labels, as Splink does:

1. **Blocking.** Each blocking rule gives every record keys (names' phonetic keys with the given name's
   initial, birth year + surname key, the full birth date, identifiers, postcode); two records sharing a key are
   a candidate pair. Rules are named and configurable (``Settings.blocking``); a key shared by more than
   ``max_block_pairs`` pairs is skipped (its pairs are left to the other rules) so one common surname cannot
   blow the candidate set up.
2. **Comparison.** Each candidate pair gets a level per comparison (``features``: surnames, given names,
   birth date, identifiers, country, address, postcode, company name), vectorised over all pairs.
3. **Scoring.** Each level has an m-probability (how often true matches are at that level) and a
   u-probability (how often random pairs are). u is counted on random record pairs; m and the share of matches
   are estimated by expectation–maximisation on the candidate pairs (EM runs on the distinct level patterns,
   so it costs nothing at scale). The m of levels that contradict a match (given names in conflict, birth
   dates years apart) is bounded by ``M_CEILINGS``: without that, EM counts twins and namesakes as matches.
   A pair's match weight is ``log2(prior odds) + Σ log2(m/u)``; its match probability ``1 / (1 + 2^-weight)``.
4. **Decision.** Pairs at or above ``DEFAULT_THRESHOLD`` (a match probability) are matches. Linking two
   sets keeps each record's best match only (one-to-one, greedy on weight); deduplicating one set joins
   matches into clusters (connected components).

Every candidate pair can be explained: which comparison was at which level, with what weight
(``Resolution.explain``; ``agreement`` sums it up as the comparisons that counted for and against). The functions
work on plain records (``{"id", "name", "birth_date", "country", "ids", ...}``) so benchmarks need no database;
``plain_record`` adapts a stored FtM ``Record``, ``candidates``/``decide`` put the resolver in front of an analyst,
audited, and ``link_to_records``/``link_file`` link a file of people or companies against the node's records the
analyst may see, audited as a bulk view.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from alianza.accounts.models import User
from alianza.accounts.permissions import Permission, require
from alianza.audit.trail import AuditTrail
from alianza.errors import NotFoundError, ValidationError, problem
from alianza.matching import recordsets
from alianza.matching.engines import RuleKeys, compare, engine_named
from alianza.matching.features import (
    ALL_COMPARISONS,
    NULL,
    Comparison,
    IntArray,
    Prepared,
    Vocabulary,
    field_values,
    prepare,
    present,
)
from alianza.matching.models import CONFIRMED, REJECTED, MatchDecision
from alianza.matching.names import canonical_given, phonetic
from alianza.records.models import Record
from alianza.records.service import can_see
from alianza.settings import NodeSettings
from alianza.store.db import utcnow

ALGORITHM = "alianza-fs-v1"
DEFAULT_THRESHOLD = 0.5
"""Match probability from which a pair is a match: the Bayes decision point (a match is likelier than not).
Checked on generated data with seeds other than the benchmark's (seeds 1 and 2, 20,000 a side): F1 0.976–0.977
at 0.5, 0.978–0.979 at 0.1, 0.967–0.968 at 0.9; the curve is flat enough that the principled point stays."""

DEFAULT_COMPARISONS = (
    "surnames",
    "given_names",
    "org_name",
    "birth_date",
    "identifiers",
    "country",
    "address",
    "postcode",
)

# How often, at most, a true match is at a level that contradicts it. EM left alone hands these levels to the
# match class whenever look-alike non-matches are common among the candidates (twins: same surnames and
# birth date, other given name; a father and son of one name, born decades apart), and then scores twins as
# matches. Bounding them is part of the algorithm's definition, as Splink lets a user fix m-probabilities.
M_CEILINGS: dict[tuple[str, str], float] = {
    ("given_names", "differ"): 0.005,
    ("birth_date", "differ"): 0.02,
    ("birth_date", "within_5_years"): 0.02,
    ("birth_date", "same_year"): 0.02,
    ("surnames", "differ"): 0.03,
    ("surnames", "paternal_exact_maternal_differs"): 0.02,
    ("org_name", "differ"): 0.03,
}

FloatArray = npt.NDArray[np.float64]
BlockingRule = Callable[[Prepared, int], Iterable[str]]


# --- blocking rules ---------------------------------------------------------------------------------------------


def block_name_keys(prep: Prepared, i: int) -> Iterable[str]:
    """``names.name_keys``: surname sound + given initial, both surnames, sorted words; company name."""
    if prep.is_org[i]:
        k = int(prep.org_name[i])
        words = prep.vocab.strings[k].split() if k >= 0 else []
        return [f"o:{w}" for w in words if len(w) > 2][:3]
    return prep.keys(i)


def block_birth_year_surname(prep: Prepared, i: int) -> Iterable[str]:
    """Birth year + either surname's sound + the given name's initial (its formal form's: Pepe → j), and birth
    year + the given name's formal form + the surname's initial: the first catches mistyped given names,
    the second mistyped surnames. A record known by a nickname only keys on year + surname."""
    year = int(prep.year[i])
    if not year:
        return ()
    strings = prep.vocab.strings
    surnames = [strings[int(k)] for k in (prep.paternal_ph[i], prep.maternal_ph[i]) if k >= 0]
    given = prep.parts[i].given
    if not given:
        return [f"{year}:{s}" for s in surnames]
    formals = canonical_given(given[0])
    keys = [f"{year}:{s}:{f[0]}" for s in surnames for f in formals]
    initial = prep.parts[i].paternal[:1]
    keys.extend(f"{year}:g:{phonetic(f)}:{initial}" for f in formals)
    return keys


def block_birth_date(prep: Prepared, i: int) -> Iterable[str]:
    """The full birth date: catches surname typos together with a dropped second surname."""
    k = int(prep.dob[i])
    return (prep.vocab.strings[k],) if k >= 0 else ()


def block_identifiers(prep: Prepared, i: int) -> Iterable[str]:
    return [f"id:{v}" for v in prep.id_sets[i]]


def block_postcode(prep: Prepared, i: int) -> Iterable[str]:
    k = int(prep.postcode[i])
    return (f"pc:{prep.vocab.strings[k]}",) if k >= 0 else ()


BLOCKING_RULES: dict[str, BlockingRule] = {
    "name_keys": block_name_keys,
    "birth_year_surname": block_birth_year_surname,
    "birth_date": block_birth_date,
    "identifiers": block_identifiers,
    "postcode": block_postcode,
}


@dataclass(frozen=True)
class Settings:
    """How a resolution runs; the defaults are ``alianza-fs-v1``'s."""

    blocking: tuple[str, ...] = tuple(BLOCKING_RULES)
    comparisons: tuple[str, ...] = DEFAULT_COMPARISONS
    threshold: float = DEFAULT_THRESHOLD
    one_to_one: bool = True  # linking two sets: each record's best match only
    max_block_pairs: int = 1_000_000
    u_sample_pairs: int = 300_000
    em_iterations: int = 40
    seed: int = 1
    engine: str = "numpy"  # where pairs are joined and compared (``engines.ENGINES``); results are the same
    spark_master: str = "local[*]"

    @classmethod
    def of_node(cls, node: NodeSettings) -> Settings:
        """The defaults, run on the engine the node's settings name."""
        return cls(engine=node.match_engine, spark_master=node.spark_master)


# --- the model ------------------------------------------------------------------------------------------------


@dataclass
class Model:
    """m and u per comparison level and the prior: everything a score is computed from."""

    comparisons: tuple[Comparison, ...]
    m: list[FloatArray]
    u: list[FloatArray]
    prior: float  # probability that two random records are a match
    threshold: float = DEFAULT_THRESHOLD
    algorithm: str = ALGORITHM
    em_iterations_run: int = 0

    def level_weights(self) -> list[FloatArray]:
        return [np.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def to_dict(self) -> dict[str, Any]:
        """The model as data: stored with decisions, shown to analysts, diffed between runs."""
        return {
            "algorithm": self.algorithm,
            "prior": self.prior,
            "threshold": self.threshold,
            "comparisons": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "levels": [
                        {"level": label, "m": float(m), "u": float(u), "weight": float(math.log2(m / u))}
                        for label, m, u in zip(c.levels, self.m[k], self.u[k], strict=True)
                    ],
                }
                for k, c in enumerate(self.comparisons)
            ],
        }


def _pattern_codes(levels: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """One integer per row of levels, so patterns are counted with ``np.unique`` on a flat array."""
    code = np.zeros(len(levels), dtype=np.int64)
    for k in range(levels.shape[1]):
        code = code * 16 + (levels[:, k].astype(np.int64) + 1)
    return code


def _estimate_u(
    comparisons: Sequence[Comparison], L: Prepared, R: Prepared, dedupe: bool, settings: Settings
) -> list[FloatArray]:
    rng = np.random.default_rng(settings.seed)
    total = len(L) * len(R)
    n = int(min(settings.u_sample_pairs, total))
    li = rng.integers(0, len(L), n, dtype=np.int64)
    ri = rng.integers(0, len(R), n, dtype=np.int64)
    if dedupe:
        keep = li != ri
        li, ri = li[keep], ri[keep]
    levels = compare(comparisons, L, R, li, ri)
    out: list[FloatArray] = []
    for k, c in enumerate(comparisons):
        seen = np.bincount(levels[:, k][levels[:, k] != NULL].astype(np.int64), minlength=len(c.levels))
        smoothed = seen.astype(np.float64) + 0.5  # a level never seen among random pairs is rare, not impossible
        out.append(smoothed / smoothed.sum())
    return out


def _em(
    comparisons: Sequence[Comparison], levels: npt.NDArray[np.int8], iterations: int
) -> tuple[list[FloatArray], float, int]:
    """m-probabilities and the match share of the candidate pairs, by EM over distinct level patterns.

    The non-match distribution *within the candidates* is estimated alongside (candidates agree on names far
    more than random pairs do) and then dropped: scoring uses u from random pairs, as the prior does.
    """
    codes = _pattern_codes(levels)
    _, first, counts = np.unique(codes, return_index=True, return_counts=True)
    patterns = levels[first].astype(np.int64)
    weights = counts.astype(np.float64)
    m = [np.asarray(c.m_prior, dtype=np.float64) for c in comparisons]
    u_b: list[FloatArray] = []
    for k, c in enumerate(comparisons):
        col = patterns[:, k]
        mask = col != NULL
        freq = np.bincount(col[mask], weights=weights[mask], minlength=len(c.levels)) + 1.0
        u_b.append(freq / freq.sum())
    ceilings = [
        np.asarray([M_CEILINGS.get((c.name, label), 1.0) for label in c.levels], dtype=np.float64) for c in comparisons
    ]
    share = 0.05
    runs = 0
    for _ in range(iterations):
        runs += 1
        log_m = np.full(len(patterns), math.log(share))
        log_u = np.full(len(patterns), math.log(1 - share))
        for k in range(len(comparisons)):
            col = patterns[:, k]
            mask = col != NULL
            log_m[mask] += np.log(m[k][col[mask]])
            log_u[mask] += np.log(u_b[k][col[mask]])
        posterior = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        matched = posterior * weights
        unmatched = (1 - posterior) * weights
        new_share = float(matched.sum() / weights.sum())
        delta = abs(new_share - share)
        share = min(max(new_share, 1e-9), 1 - 1e-9)
        for k, c in enumerate(comparisons):
            col = patterns[:, k]
            mask = col != NULL
            mm = np.bincount(col[mask], weights=matched[mask], minlength=len(c.levels)) + 1e-3
            uu = np.bincount(col[mask], weights=unmatched[mask], minlength=len(c.levels)) + 1e-3
            new_m = _bounded(mm / mm.sum(), ceilings[k])
            delta = max(delta, float(np.abs(new_m - m[k]).max()))
            m[k] = new_m
            u_b[k] = uu / uu.sum()
        if delta < 1e-6:
            break
    return m, share, runs


def _bounded(m: FloatArray, ceiling: FloatArray) -> FloatArray:
    """``m`` with each level at most its ceiling, the excess spread over the unbounded levels pro rata."""
    capped = np.minimum(m, ceiling)
    excess = float(m.sum() - capped.sum())
    if excess <= 0:
        return m
    free = ceiling >= 1.0
    if not free.any() or capped[free].sum() <= 0:
        return np.asarray(capped / capped.sum(), dtype=np.float64)
    capped[free] += excess * capped[free] / capped[free].sum()
    return np.asarray(capped, dtype=np.float64)


def _floor(p: FloatArray, floor: float = 1e-6) -> FloatArray:
    p = np.maximum(p, floor)
    return np.asarray(p / p.sum(), dtype=np.float64)


# --- candidate pairs ------------------------------------------------------------------------------------------


def rule_keys(rule: BlockingRule, L: Prepared, R: Prepared, dedupe: bool) -> RuleKeys:
    """One rule's keys of both sides as integers (the same integer for the same key on both sides)."""
    keys: dict[str, int] = {}
    lk: list[int] = []
    lidx: list[int] = []
    for i in range(len(L)):
        for key in rule(L, i):
            lk.append(keys.setdefault(key, len(keys)))
            lidx.append(i)
    left_key, left_idx = np.asarray(lk, dtype=np.int64), np.asarray(lidx, dtype=np.int64)
    if dedupe:
        return RuleKeys(left_key, left_idx, left_key, left_idx)
    rk: list[int] = []
    ridx: list[int] = []
    for i in range(len(R)):
        for key in rule(R, i):
            found = keys.get(key)
            if found is not None:  # a key the left side lacks pairs nobody
                rk.append(found)
                ridx.append(i)
    return RuleKeys(left_key, left_idx, np.asarray(rk, dtype=np.int64), np.asarray(ridx, dtype=np.int64))


def blocking_keys(L: Prepared, R: Prepared, settings: Settings, dedupe: bool) -> list[RuleKeys]:
    """Every blocking rule's keys, in the order of ``settings.blocking`` (the order that names a pair's rule)."""
    keys = []
    for name in settings.blocking:
        rule = BLOCKING_RULES.get(name)
        if rule is None:
            raise ValidationError(
                "Unknown blocking rule '{rule}'; use one of: {known}.", rule=name, known=", ".join(BLOCKING_RULES)
            )
        keys.append(rule_keys(rule, L, R, dedupe))
    return keys


# --- results --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    left_id: str
    right_id: str
    probability: float
    weight: float
    index: int  # the candidate pair's index, for ``Resolution.explain``


@dataclass
class Resolution:
    """Scored candidate pairs of a linkage (``left`` × ``right``) or a deduplication (``left`` with itself)."""

    left: Prepared
    right: Prepared
    dedupe: bool
    settings: Settings
    model: Model
    li: IntArray
    ri: IntArray
    levels: npt.NDArray[np.int8]
    weights: FloatArray
    rules: npt.NDArray[np.int8]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def probabilities(self) -> FloatArray:
        return 1.0 / (1.0 + np.exp2(-np.clip(self.weights, -1000, 1000)))

    def __len__(self) -> int:
        return len(self.li)

    def _above(self, threshold: float | None) -> IntArray:
        t = self.settings.threshold if threshold is None else threshold
        weight_cut = math.log2(t / (1 - t)) if 0 < t < 1 else (-math.inf if t <= 0 else math.inf)
        return np.flatnonzero(self.weights >= weight_cut)

    def matches(self, threshold: float | None = None, one_to_one: bool | None = None) -> list[Match]:
        """Pairs at or above the threshold; in a linkage, each record's best match only (unless told not to)."""
        picked = self._above(threshold)
        picked = picked[np.argsort(-self.weights[picked], kind="stable")]
        if (self.settings.one_to_one if one_to_one is None else one_to_one) and not self.dedupe:
            used_l: set[int] = set()
            used_r: set[int] = set()
            kept = []
            for k in picked:
                a, b = int(self.li[k]), int(self.ri[k])
                if a in used_l or b in used_r:
                    continue
                used_l.add(a)
                used_r.add(b)
                kept.append(k)
            picked = np.asarray(kept, dtype=np.int64)
        probs = self.probabilities
        return [
            Match(
                self.left.record_ids[int(self.li[k])],
                self.right.record_ids[int(self.ri[k])],
                float(probs[k]),
                float(self.weights[k]),
                int(k),
            )
            for k in picked
        ]

    def clusters(self, threshold: float | None = None) -> list[list[str]]:
        """Connected components of the matches (records alone are singletons), largest first."""
        n_left = len(self.left)
        offset = 0 if self.dedupe else n_left
        size = n_left if self.dedupe else n_left + len(self.right)
        parent = list(range(size))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for k in self._above(threshold):
            a, b = find(int(self.li[k])), find(int(self.ri[k]) + offset)
            if a != b:
                parent[max(a, b)] = min(a, b)
        groups: dict[int, list[str]] = {}
        for x in range(size):
            rid = self.left.record_ids[x] if x < n_left else self.right.record_ids[x - offset]
            groups.setdefault(find(x), []).append(rid)
        return sorted(groups.values(), key=lambda g: (-len(g), g[0]))

    def explain(self, index: int) -> dict[str, Any]:
        """Why pair ``index`` scored what it did: each comparison's level and weight, the prior, the total."""
        a, b = int(self.li[index]), int(self.ri[index])
        level_weights = self.model.level_weights()
        features = []
        for k, comparison in enumerate(self.model.comparisons):
            level = int(self.levels[index, k])
            features.append(
                {
                    "comparison": comparison.name,
                    "kind": comparison.kind,
                    "level": comparison.describe(level),
                    "weight": 0.0 if level == NULL else round(float(level_weights[k][level]), 3),
                    "left": field_values(self.left, a, comparison),
                    "right": field_values(self.right, b, comparison),
                }
            )
        weight = float(self.weights[index])
        return {
            "algorithm": self.model.algorithm,
            "left_id": self.left.record_ids[a],
            "right_id": self.right.record_ids[b],
            "blocked_by": self.settings.blocking[int(self.rules[index])],
            "prior_weight": round(self.model.prior_weight, 3),
            "features": features,
            "weight": round(weight, 3),
            "probability": round(1.0 / (1.0 + 2.0 ** -max(min(weight, 1000.0), -1000.0)), 6),
            "threshold": self.settings.threshold,
        }


def _resolve(L: Prepared, R: Prepared, dedupe: bool, settings: Settings) -> Resolution:
    comparisons = tuple(
        ALL_COMPARISONS[name]
        for name in settings.comparisons
        if name in ALL_COMPARISONS and present(L, ALL_COMPARISONS[name]) and present(R, ALL_COMPARISONS[name])
    )
    unknown = [name for name in settings.comparisons if name not in ALL_COMPARISONS]
    if unknown:
        raise ValidationError(
            "Unknown comparison(s) {names}; use: {known}.", names=", ".join(unknown), known=", ".join(ALL_COMPARISONS)
        )
    engine = engine_named(settings.engine, spark_master=settings.spark_master)
    keys = blocking_keys(L, R, settings, dedupe)
    pairs, levels = engine.run(keys, comparisons, L, R, dedupe, settings.max_block_pairs)
    li, ri, rules, skipped = pairs.li, pairs.ri, pairs.rules, pairs.skipped
    u = _estimate_u(comparisons, L, R, dedupe, settings)
    total_pairs = len(L) * (len(L) - 1) // 2 if dedupe else len(L) * len(R)
    if len(li) >= 50:
        m, share, runs = _em(comparisons, levels, settings.em_iterations)
        prior = share * len(li) / max(total_pairs, 1)
    else:
        m, runs = [np.asarray(c.m_prior, dtype=np.float64) for c in comparisons], 0
        prior = 1.0 / max(min(len(L), len(R)), 1) / 10
    prior = min(max(prior, 1e-12), 0.5)
    model = Model(comparisons, [_floor(x) for x in m], [_floor(x) for x in u], prior, settings.threshold)
    model.em_iterations_run = runs
    weights = np.full(len(li), model.prior_weight, dtype=np.float64)
    for k, level_weight in enumerate(model.level_weights()):
        col = levels[:, k]
        mask = col != NULL
        weights[mask] += level_weight[col[mask].astype(np.int64)]
    stats = {
        "candidate_pairs": len(li),
        "skipped_block_pairs": skipped,
        "total_pairs": total_pairs,
        "engine": engine.name,
    }
    return Resolution(L, R, dedupe, settings, model, li, ri, levels, weights, rules, stats)


def link(
    left: Sequence[Mapping[str, Any]], right: Sequence[Mapping[str, Any]], settings: Settings | None = None
) -> Resolution:
    """Resolve two record sets against each other (plain records: see the module docstring)."""
    vocab = Vocabulary()
    return _resolve(prepare(left, vocab), prepare(right, vocab), False, settings or Settings())


def dedupe(records: Sequence[Mapping[str, Any]], settings: Settings | None = None) -> Resolution:
    """Resolve one record set against itself."""
    prep = prepare(records)
    return _resolve(prep, prep, True, settings or Settings())


NO_EVIDENCE_BITS = 0.1
"""A comparison whose weight is within this many bits of zero (odds moved by under 7 %) counted neither for nor
against a match: the same nationality on a node where nearly everyone shares it weighs about -0.04, and calling it
a disagreement would mislead the reader of ``agreement``."""


def agreement(explanation: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """An explanation (``Resolution.explain``) summed up: the comparisons that counted for the match (``agreed``)
    and those that counted against it (``disagreed``), each as its comparison and level; a comparison one side says
    nothing about, or whose weight is within ``NO_EVIDENCE_BITS`` of zero, is neither. The CLI, the API and the UI
    all show this summary."""
    agreed: list[dict[str, str]] = []
    disagreed: list[dict[str, str]] = []
    for feature in explanation.get("features") or []:
        weight = float(feature.get("weight") or 0.0)
        item = {"comparison": str(feature["comparison"]), "level": str(feature["level"])}
        if weight >= NO_EVIDENCE_BITS:
            agreed.append(item)
        elif weight <= -NO_EVIDENCE_BITS:
            disagreed.append(item)
    return {"agreed": agreed, "disagreed": disagreed}


def evaluate(predicted: Iterable[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall and F1 of predicted pairs against the true ones (order within a pair ignored)."""
    pred = {tuple(sorted(p)) for p in predicted}
    gold = {tuple(sorted(p)) for p in truth}
    hits = len(pred & gold)
    precision = hits / len(pred) if pred else 0.0
    recall = hits / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted": len(pred), "true": len(gold)}


# --- stored records -------------------------------------------------------------------------------------------

_ID_PROPERTIES = ("idNumber", "passportNumber", "taxNumber", "registrationNumber", "innCode", "vatCode", "ogrnCode",
                  "leiCode", "swiftBic", "socialSecurityNumber", "curp", "rfcCode")  # fmt: skip


def plain_record(record: Record) -> dict[str, Any]:
    """A stored FtM record as the resolver's plain record."""
    props: Mapping[str, list[str]] = record.properties or {}

    def first(*names: str) -> str:
        for name in names:
            values = props.get(name) or []
            if values:
                return str(values[0])
        return ""

    ids = [str(v) for name in _ID_PROPERTIES for v in props.get(name, []) or []]
    return {
        "id": record.id,
        "schema": record.schema,
        "name": first("name") or record.caption,
        "aliases": list(props.get("alias", []) or []),
        "birth_date": first("birthDate", "incorporationDate"),
        "country": first("nationality", "citizenship", "country", "jurisdiction"),
        "ids": ids,
    }


def _threshold(settings: Settings, threshold: float | None) -> float:
    """The match probability a run cuts at: the one asked for, else the settings'; refused outside (0, 1)."""
    cut = settings.threshold if threshold is None else threshold
    if not 0 < cut < 1:
        raise ValidationError("The threshold is a match probability between 0 and 1; {value} is not.", value=cut)
    return cut


def _visible_records(session: Session, actor: User, schema: str) -> list[Record]:
    """The node's records of ``schema`` (not purged) that the actor may see, in id order."""
    rows = [
        r
        for r in session.scalars(select(Record).where(Record.schema == schema, Record.purged_at.is_(None)))
        if can_see(actor, r)
    ]
    rows.sort(key=lambda r: r.id)
    return rows


def candidates(
    session: Session,
    actor: User,
    trail: AuditTrail,
    *,
    schema: str = "Person",
    threshold: float | None = None,
    limit: int = 200,
    settings: Settings | None = None,
) -> list[MatchDecision]:
    """Run the resolver over the records the actor may see and keep the likely duplicates for review.

    Pairs already decided keep their decision (their score and explanation are refreshed); the run is audited
    as a bulk view of the records it read.
    """
    require(actor, Permission.READ_RECORDS)
    settings = settings or Settings()
    cut = _threshold(settings, threshold)
    rows = _visible_records(session, actor, schema)
    found: list[MatchDecision] = []
    if len(rows) >= 2:
        result = dedupe([plain_record(r) for r in rows], settings)
        existing = {(d.left_record_id, d.right_record_id): d for d in session.scalars(select(MatchDecision))}
        for match in result.matches(threshold=cut)[:limit]:
            left_id, right_id = sorted((match.left_id, match.right_id))
            explanation = result.explain(match.index)
            row = existing.get((left_id, right_id))
            if row is None:
                row = MatchDecision(left_record_id=left_id, right_record_id=right_id, note="")
                session.add(row)
            row.algorithm = ALGORITHM
            row.score = match.probability
            row.weight = match.weight
            row.explanation = explanation
            row.updated_at = utcnow()
            found.append(row)
        session.flush()
    trail.append(
        session,
        actor,
        "match.candidates",
        "record",
        "*",
        {"schema": schema, "records": len(rows), "candidates": len(found), "algorithm": ALGORITHM, "threshold": cut},
    )
    return found


MAX_LINK_RECORDS = 50_000
"""The most rows a file linked against the node's records may have on the web (one request, one transaction);
``alianza match link --records`` on the node host takes up to ``recordsets.MAX_RECORDS``."""


@dataclass(frozen=True)
class RecordMatch:
    """A row of a file and the node's record it matches, with why."""

    ref: str  # the row's ref, or its line number when the file has no ref column
    name: str  # the name on the row, as the file gives it
    record_id: str
    caption: str
    schema: str
    probability: float
    weight: float
    agreed: list[dict[str, str]]
    disagreed: list[dict[str, str]]
    explanation: dict[str, Any]


@dataclass(frozen=True)
class FileLink:
    """A file linked against the node's records: its counts and its matches, the likeliest first."""

    file: str
    schema: str
    rows: int
    records: int  # the node's records of the kind that the actor may see, all compared
    threshold: float
    matches: list[RecordMatch]
    algorithm: str = ALGORITHM


def link_to_records(
    session: Session,
    actor: User,
    trail: AuditTrail,
    records: Sequence[Mapping[str, Any]],
    *,
    file_name: str = "",
    schema: str = "Person",
    threshold: float | None = None,
    settings: Settings | None = None,
    max_records: int = MAX_LINK_RECORDS,
) -> FileLink:
    """Link plain records (a file's rows: ``recordsets.read_record_set``) against the node's records of ``schema``
    that the actor may see, one-to-one: each row's best match and each record's, at or above the threshold.

    Every row must be of ``schema`` (a company in a run over persons is refused with its ref, as every other
    problem, before anything is compared). The run is audited as a bulk view of the records it read: the file's
    name and counts, never its contents.
    """
    require(actor, Permission.READ_RECORDS)
    settings = settings or Settings()
    cut = _threshold(settings, threshold)
    kinds = sorted(set(recordsets.SCHEMATA.values()))
    if schema not in kinds:
        raise ValidationError(
            "Records of the kind {schema} cannot be linked; use one of: {known}.", schema=schema, known=", ".join(kinds)
        )
    name = file_name or "file"
    problems: list[dict[str, Any]] = []
    if len(records) > max_records:
        problems.append(problem(name, "The file has more than {limit} records; split it.", limit=max_records))
    for r in records[: max_records + 1]:
        kind, ref = str(r.get("schema") or "Person"), str(r.get("id", ""))
        if kind == schema:
            continue
        if kind == "Company":
            problems.append(
                problem(
                    name,
                    "row {ref} is a company; this run links persons: link companies in a run of their own.",
                    ref=ref,
                )
            )
        else:
            problems.append(
                problem(
                    name,
                    "row {ref} is a person; this run links companies: link persons in a run of their own.",
                    ref=ref,
                )
            )
    if problems:
        raise ValidationError(
            "{file} has {count} problem(s); nothing was read.", details=problems, file=name, count=len(problems)
        )
    rows = _visible_records(session, actor, schema)
    found: list[RecordMatch] = []
    if records and rows:
        settings = replace(settings, threshold=cut)
        by_id = {r.id: r for r in rows}
        names = {str(r["id"]): str(r.get("name") or "") for r in records}
        result = link(records, [plain_record(r) for r in rows], settings)
        for match in result.matches(threshold=cut, one_to_one=True):
            explanation = result.explain(match.index)
            summary = agreement(explanation)
            record = by_id[match.right_id]
            found.append(
                RecordMatch(
                    ref=match.left_id,
                    name=names.get(match.left_id, ""),
                    record_id=record.id,
                    caption=record.caption,
                    schema=record.schema,
                    probability=match.probability,
                    weight=match.weight,
                    agreed=summary["agreed"],
                    disagreed=summary["disagreed"],
                    explanation=explanation,
                )
            )
    trail.append(
        session,
        actor,
        "match.linked",
        "record",
        "*",
        {
            "file": file_name,
            "schema": schema,
            "rows": len(records),
            "records": len(rows),
            "matches": len(found),
            "algorithm": ALGORITHM,
            "threshold": cut,
        },
    )
    return FileLink(file_name, schema, len(records), len(rows), cut, found)


def link_file(
    session: Session,
    actor: User,
    trail: AuditTrail,
    data: bytes,
    file_name: str,
    *,
    schema: str = "Person",
    threshold: float | None = None,
    settings: Settings | None = None,
    max_records: int = MAX_LINK_RECORDS,
) -> FileLink:
    """``link_to_records`` of a CSV (``recordsets.read_record_set``: English or Spanish headers); a file with any
    bad row is refused whole, each problem with its line, and nothing is read or audited."""
    require(actor, Permission.READ_RECORDS)
    records = recordsets.read_record_set(data, file_name, max_records=max_records)
    return link_to_records(
        session,
        actor,
        trail,
        records,
        file_name=file_name,
        schema=schema,
        threshold=threshold,
        settings=settings,
        max_records=max_records,
    )


def decided_pairs(session: Session, actor: User, limit: int = 200) -> list[MatchDecision]:
    """Pairs an analyst has decided, newest first, both of whose records the actor may see."""
    require(actor, Permission.READ_RECORDS)
    query = (
        select(MatchDecision)
        .where(MatchDecision.decision.is_not(None))
        .order_by(MatchDecision.decided_at.desc(), MatchDecision.id.desc())
    )
    found: list[MatchDecision] = []
    for row in session.scalars(query):
        left, right = session.get(Record, row.left_record_id), session.get(Record, row.right_record_id)
        if left is not None and right is not None and can_see(actor, left) and can_see(actor, right):
            found.append(row)
            if len(found) >= limit:
                break
    return found


def decide(
    session: Session, actor: User, trail: AuditTrail, pair_id: int, confirm: bool, note: str = ""
) -> MatchDecision:
    """Confirm or reject a candidate pair. A decision can be revised; each one is audited with the previous."""
    require(actor, Permission.EDIT_RECORDS)
    row = session.get(MatchDecision, pair_id)
    if row is None:
        raise NotFoundError("No match candidate with id {id}.", id=pair_id)
    for record_id in (row.left_record_id, row.right_record_id):
        record = session.get(Record, record_id)
        if record is None or not can_see(actor, record):
            raise NotFoundError("No match candidate with id {id}.", id=pair_id)
    if len(note) > 2000:
        raise ValidationError("The note is {length} characters long; keep it under 2000.", length=len(note))
    previous = row.decision
    row.decision = CONFIRMED if confirm else REJECTED
    row.note = note
    row.decided_by_id = actor.id
    row.decided_at = utcnow()
    row.updated_at = row.decided_at
    session.flush()
    trail.append(
        session,
        actor,
        "match.confirmed" if confirm else "match.rejected",
        "match",
        row.id,
        {
            "left": row.left_record_id,
            "right": row.right_record_id,
            "score": row.score,
            "algorithm": row.algorithm,
            "previous": previous,
            "note": note,
        },
    )
    return row
