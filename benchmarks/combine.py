"""Gather the matching benchmarks' results into one table: benchmarks/results/matching.json.

Each benchmark writes its own file (entity resolution, private matching, screening); this keeps their numbers
as they are and lays them out per data set and tool, with the Dice kernel's comparisons per second beside
anonlink's and their ratio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
FIELDS = ("precision", "recall", "f1", "seconds", "peak_mib")


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _rows(results: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for dataset, tools in results.items():
        if not isinstance(tools, dict):
            continue
        for tool, numbers in tools.items():
            if isinstance(numbers, dict) and "f1" in numbers:
                entry = {k: numbers[k] for k in FIELDS if k in numbers}
                entry |= {k: v for k, v in numbers.items() if k.startswith("recall_") or k == "threshold"}
                table.setdefault(f"{prefix}{dataset}", {})[tool] = entry
    return table


def combine(quick: bool = False) -> dict[str, Any]:
    suffix = "-quick" if quick else ""
    er = _load(f"matching_er{suffix}.json") or _load("matching_er.json")
    private = _load(f"matching_private{suffix}.json") or _load("matching_private.json")
    screening = _load(f"matching_screening{suffix}.json") or _load("matching_screening.json")
    datasets: dict[str, dict[str, Any]] = {}
    datasets |= _rows(er.get("results", {}), "entity_resolution/")
    datasets |= _rows(private.get("datasets", {}), "private_matching/")
    for tool, numbers in screening.get("results", {}).items():
        # screening reports each tool at its best threshold and at a 1% false-positive rate
        best = numbers.get("best", {})
        entry = {k: best[k] for k in FIELDS if k in best} | {
            k: numbers[k] for k in ("seconds", "peak_mib") if k in numbers
        }
        entry["threshold"] = best.get("threshold")
        entry["recall_at_1pct_fpr"] = numbers.get("at_1pct_fpr", {}).get("recall")
        entry["recall_hypocorisms_nicknames"] = best.get("hypocorism_nickname_recall")
        datasets.setdefault("screening/generated_ofac_list", {})[tool] = entry
    kernel = private.get("kernel", {})
    sources = ["matching_er", "matching_private", "matching_screening"]
    return {"datasets": datasets, "kernel": kernel, "sources": sources}


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    out = RESULTS / ("matching-quick.json" if quick else "matching.json")
    out.write_text(json.dumps(combine(quick), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
