"""``alianza match link FILE --records``: a file linked against the node's records the acting user may see, with
the node's settings, audited; the two-file form still needs no node; exactly one of a second file or --records.
Runs on a node made by ``alianza init`` on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from alianza.audit.models import AuditEntry
from tests.cli.conftest import alianza, ok
from tests.cli.test_matching_cli import opened
from tests.conftest import make_user
from tests.matching.test_link_records import FILE, HELD, seed


@pytest.fixture
def held(config: Path) -> Path:
    """The CLI node with an FGR analyst, an SSPC analyst and the people of the domain test."""
    with opened(config) as node:
        analyst = make_user(node, "analyst", "analyst", "mx_fgr")
        make_user(node, "sspc", "analyst", "mx_sspc")
        seed(node, analyst)
    return config


@pytest.fixture
def fiscalia(tmp_path: Path) -> Path:
    path = tmp_path / "fiscalia.csv"
    path.write_bytes(FILE)
    return path


def linked_runs(config: Path) -> list[tuple[str, dict[str, object]]]:
    with opened(config) as node, node.db.reading() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "match.linked"))
        return [(e.actor, dict(e.details)) for e in rows]


def test_a_file_against_our_records(held: Path, fiscalia: Path, tmp_path: Path) -> None:
    result = ok("match", "link", fiscalia, "--records", "--config", held, "--user", "analyst", "--json")
    rows = json.loads(result.stdout)
    assert {r["ref"]: r["record"] for r in rows} == {"F-1": "r-1", "F-2": "r-2", "F-3": "r-3"}
    pepe = next(r for r in rows if r["ref"] == "F-1")
    assert pepe["caption"] == "José Luis Pérez López" and pepe["name"] == "PÉREZ LÓPEZ, Pepe"
    assert "given_names=hypocorism" in pepe["agreed"] and 0.5 <= pepe["probability"] <= 1
    table = ok("match", "link", fiscalia, "--records", "--config", held, "--user", "analyst").stdout
    assert "REF" in table and "CAPTION" in table and "José Luis Pérez López" in table
    out = tmp_path / "matches.csv"
    written = ok("match", "link", fiscalia, "--records", "-c", held, "-u", "analyst", "-o", out).stdout
    assert f"3 match(es) of 4 rows against {HELD} Person record(s) written to {out}." in written
    with out.open(newline="", encoding="utf-8") as handle:
        assert {r["ref"] for r in csv.DictReader(handle)} == {"F-1", "F-2", "F-3"}
    actors = [actor for actor, _ in linked_runs(held)]
    assert actors == ["analyst"] * 3
    assert linked_runs(held)[0][1]["file"] == "fiscalia.csv"


def test_need_to_know_applies_to_the_acting_user(held: Path, fiscalia: Path) -> None:
    result = ok("match", "link", fiscalia, "--records", "--config", held, "--user", "sspc", "--json")
    assert "r-3" not in {r["record"] for r in json.loads(result.stdout)}
    ((actor, details),) = linked_runs(held)
    assert actor == "sspc" and details["records"] == HELD - 1


def test_one_of_a_second_file_or_records(held: Path, fiscalia: Path) -> None:
    neither = alianza("match", "link", fiscalia)
    assert neither.exit_code == 2 and "Give either a second file or --records" in neither.stderr
    both = alianza("match", "link", fiscalia, fiscalia, "--records", "--config", held)
    assert both.exit_code == 2 and "Give either a second file or --records" in both.stderr
    two_files = ok("match", "link", fiscalia, fiscalia, "--json")  # no node needed
    assert isinstance(json.loads(two_files.stdout), list)  # its matches: tests/cli/test_match_link_cli.py
    bad = fiscalia.with_name("malo.csv")
    bad.write_text("ref,name\nA,Ana Ruiz\nB,\n", encoding="utf-8")
    refused = alianza("match", "link", bad, "--records", "--config", held, "--user", "analyst")
    assert refused.exit_code == 2 and "line 3: the name is empty" in refused.stderr
    assert linked_runs(held) == []
