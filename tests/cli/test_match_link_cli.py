"""``alianza match link``: two record sets from CSV files, linked on each engine with the same matches; bad files
refused whole, with every problem's line."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from alianza.matching.generator import generate_pair_sets
from alianza.matching.resolution import evaluate
from tests.cli.conftest import alianza, ok


def _write(path: Path, records: list[dict[str, Any]], spanish: bool = False) -> Path:
    header = ["referencia", "nombre", "fecha_nacimiento", "nacionalidad", "curp"] if spanish else [
        "ref", "name", "birth_date", "nationality", "id",
    ]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in records:
            writer.writerow([r["id"], r["name"], r.get("birth_date", ""), r.get("country", ""), " ".join(r["ids"])])
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, set[tuple[str, str]]]:
    left, right, truth = generate_pair_sets(400, seed=11)
    return _write(tmp_path / "left.csv", left), _write(tmp_path / "right.csv", right, spanish=True), truth


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_link_two_files_with_explanations(engine: str, files: Any, tmp_path: Path) -> None:
    left, right, truth = files
    out = tmp_path / f"{engine}.csv"
    result = ok("match", "link", left, right, "--engine", engine, "--output", out)
    rows = _read(out)
    assert f"{len(rows)} match(es) of 400 × 400 records written" in result.stdout and f"on {engine}" in result.stdout
    quality = evaluate({(r["left"], r["right"]) for r in rows}, truth)
    assert quality["precision"] > 0.95 and quality["recall"] > 0.9
    assert all(0.5 <= float(r["probability"]) <= 1 for r in rows)
    assert all("surnames=" in r["agreed"] + r["disagreed"] for r in rows)
    assert len({r["left"] for r in rows}) == len(rows) == len({r["right"] for r in rows})  # one-to-one


def test_engines_write_the_same_matches(files: Any, tmp_path: Path) -> None:
    left, right, _ = files
    ok("match", "link", left, right, "--output", tmp_path / "a.csv")
    ok("match", "link", left, right, "--engine", "duckdb", "--output", tmp_path / "b.csv")
    assert _read(tmp_path / "a.csv") == _read(tmp_path / "b.csv")


def test_a_bad_file_is_refused_whole_with_its_lines(files: Any, tmp_path: Path) -> None:
    left, _, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text('ref,name,birth_date\n1,Juan Pérez,1980-01-01\n2,,1990-01-01\n3,Ana\n1,"Luis Ruiz",\n')
    out = tmp_path / "out.csv"
    result = alianza("match", "link", left, bad, "--output", out)
    assert result.exit_code == 2
    assert "bad.csv has 3 problem(s); nothing was read" in result.stderr
    assert "line 3: the name is empty" in result.stderr
    assert "line 4: expected 3 columns, found 2" in result.stderr
    assert "line 5: the reference 1 is also on line 2" in result.stderr
    assert not out.exists()


def test_an_unknown_column_or_engine_says_what_to_use(files: Any, tmp_path: Path) -> None:
    left, _, _ = files
    bad = tmp_path / "cols.csv"
    bad.write_text("ref,nombre,apodo\n1,Juan Pérez,Juanito\n")
    result = alianza("match", "link", left, bad)
    assert result.exit_code == 2 and "unknown: apodo" in result.stderr
    engine = alianza("match", "link", left, left, "--engine", "hadoop")
    assert engine.exit_code == 2 and "use one of: numpy, duckdb, spark" in engine.stderr
