"""``alianza lists load|show`` and ``alianza screen name|file|records|hits|decide`` against a node initialised by
``alianza init`` on SQLite and on PostgreSQL, with OFAC files written as OFAC publishes them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from alianza.accounts import service as accounts
from alianza.matching.screening_models import ListEntry, SanctionsList, ScreeningHit
from alianza.node import open_node
from alianza.records import service as records
from alianza.records.schemas import Markings, RecordInput
from alianza.store.db import Base
from tests.api.test_screening_api import ALT, BAD_SDN, SDN_V1, SDN_V2
from tests.cli.conftest import alianza, ok
from tests.conftest import PASSWORD


def write_ofac(folder: Path, sdn: str = SDN_V1, alt: str | None = ALT) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sdn.csv").write_bytes(sdn.encode("cp1252"))
    paths = [folder / "sdn.csv"]
    if alt is not None:
        (folder / "alt.csv").write_bytes(alt.encode())
        paths.append(folder / "alt.csv")
    return paths


def count(config: Path, model: type[Base]) -> int:
    node = open_node(config, migrate=False)
    try:
        with node.db.reading() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        node.close()


def seed_people(config: Path, *people: tuple[str, str]) -> None:
    """Person records created by the node's admin (an SRE agency record, AMBER)."""
    node = open_node(config, migrate=False)
    try:
        with node.db.transaction() as session:
            admin = accounts.get_user(session, "admin")
            for record_id, name in people:
                data = RecordInput.model_validate(
                    {
                        "id": record_id,
                        "schema": "Person",
                        "properties": {"name": name, "nationality": "mx"},
                        "markings": Markings(
                            origin_agency="mx_fgr",
                            tlp="AMBER",
                            legal_basis="mx_cnpp",
                            purpose="criminal_investigation",
                        ),
                    }
                )
                records.create_record(session, admin, node.trail, "MX", data)
    finally:
        node.close()


def test_load_show_and_screen_a_name(config: Path, tmp_path: Path) -> None:
    files = write_ofac(tmp_path / "v1")
    loaded = ok("lists", "load", "ofac-sdn", *files, "--format", "ofac", "--source", "OFAC SDN", "--config", config)
    assert "List ofac-sdn loaded (ofac-csv): version " in loaded.stdout and "(new list)" in loaded.stdout
    assert "2 entries: 2 added, 0 removed, 0 changed." in loaded.stdout
    assert "Re-screened 0 record(s): 0 new hit(s), 0 removed, 0 unchanged." in loaded.stdout
    again = ok("lists", "load", "ofac-sdn", *files, "--config", config)  # the format is told from the names
    assert "nothing changed" in again.stdout

    shown = ok("lists", "show", "--config", config)
    assert "ofac-sdn" in shown.stdout and "OFAC SDN" in shown.stdout and "admin" in shown.stdout
    [listed] = json.loads(ok("lists", "show", "--json", "--config", config).stdout)
    assert listed["entries"] == 2 and len(listed["version"]) == 64

    screened = ok("screen", "name", "Mencho Oseguera", "--config", config)
    assert "Mencho Oseguera: 1 hit(s)" in screened.stdout
    assert "ofac-sdn 17301  OSEGUERA CERVANTES, Nemesio [pending]" in screened.stdout
    assert "given_name nickname (mencho ~ nemesio)" in screened.stdout  # the short explanation
    assert "paternal_surname exact" in screened.stdout

    [result] = json.loads(
        ok("screen", "name", "Nemesio Oseguera", "--dob", "1966-07-17", "--nationality", "mexicana", "--json",
           "--config", config).stdout
    )  # fmt: skip
    [hit] = result["hits"]
    features = {f["feature"]: f["level"] for f in hit["explanation"]["features"]}
    assert hit["entry"] == "17301" and features["birth_date"] == "exact" and features["nationality"] == "same"
    none = ok("screen", "name", "Pedro Ramírez Soto", "--list", "ofac-sdn", "--config", config)
    assert "Pedro Ramírez Soto: 0 hit(s)" in none.stdout

    bad = alianza("screen", "name", "Mencho", "--dob", "ayer", "--nationality", "Narnia", "--config", config)
    assert bad.exit_code == 2
    assert "'ayer' is not a date" in bad.stderr and "'Narnia' is not a country" in bad.stderr
    unknown = alianza("screen", "name", "Mencho", "--list", "uif-lpb", "--config", config)
    assert unknown.exit_code == 2 and "No list named uif-lpb" in unknown.stderr


def test_a_malformed_file_names_the_line_and_loads_nothing(config: Path, tmp_path: Path) -> None:
    files = write_ofac(tmp_path / "bad", BAD_SDN)
    result = alianza("lists", "load", "ofac-sdn", *files, "--config", config)
    assert result.exit_code == 2
    assert "The list ofac-sdn was not loaded and nothing was changed" in result.stderr
    assert "sdn.csv: line 2: expected 12 columns, found 3." in result.stderr
    assert count(config, SanctionsList) == 0 and count(config, ListEntry) == 0
    assert "(none)" in ok("lists", "show", "--config", config).output
    missing = alianza("lists", "load", "ofac-sdn", tmp_path / "nowhere.csv", "--config", config)
    assert missing.exit_code == 2  # the file does not exist: a usage error, no traceback
    nothing = alianza("screen", "name", "Mencho", "--config", config)
    assert nothing.exit_code == 2 and "No sanctions list is loaded" in nothing.stderr


def test_an_auditor_cannot_load_a_list(config: Path, tmp_path: Path) -> None:
    ok("user", "add", "auditor", "--role", "auditor", "--agency", "mx_sre", "--password", PASSWORD, "--config", config)
    result = alianza("lists", "load", "ofac-sdn", *write_ofac(tmp_path / "v1"), "--user", "auditor", "--config", config)
    assert result.exit_code == 2 and "permission_denied" in result.stderr
    assert count(config, SanctionsList) == 0


def test_screen_a_file_records_and_decide(config: Path, tmp_path: Path) -> None:
    seed_people(config, ("r-mencho", "Nemesio Oseguera"), ("r-chuy", "Chuy Pérez"), ("r-chapo", "Chapo Guzmán"))
    first = ok("lists", "load", "ofac-sdn", *write_ofac(tmp_path / "v1"), "--config", config)
    assert "Re-screened 3 record(s): 2 new hit(s), 0 removed, 0 unchanged." in first.stdout
    assert "new #" in first.stdout and "r-chuy 'Chuy Pérez'" in first.stdout

    names = tmp_path / "names.txt"
    names.write_text("# one name a line\nMencho Oseguera\nPedro Ramírez Soto\n", encoding="utf-8")
    from_file = ok("screen", "file", names, "--config", config)
    assert "Mencho Oseguera: 1 hit(s)" in from_file.stdout and "Pedro" not in from_file.stdout
    assert "2 name(s) screened, 1 with hits." in from_file.stdout
    bad_names = tmp_path / "bad.csv"
    bad_names.write_text("nombre,fecha_nacimiento\nMencho,ayer\n", encoding="utf-8")
    refused = alianza("screen", "file", bad_names, "--config", config)
    assert refused.exit_code == 2 and "line 2: 'ayer' is not a date" in refused.stderr

    second = ok("lists", "load", "ofac-sdn", *write_ofac(tmp_path / "v2", SDN_V2), "--config", config)
    assert "1 added, 1 removed, 0 changed" in second.stdout
    assert "Re-screened 3 record(s) and 1 typed name(s): 1 new hit(s), 1 removed, 2 unchanged." in second.stdout
    assert "removed #" in second.stdout and "17400" in second.stdout

    rescreened = json.loads(ok("screen", "records", "--json", "--config", config).stdout)
    assert (rescreened["new"], rescreened["removed"], rescreened["kept"]) == (0, 0, 2)

    pending = json.loads(ok("screen", "hits", "--pending", "--json", "--config", config).stdout)
    assert {(h["record"] or h["subject"], h["entry"]) for h in pending} == {
        ("r-mencho", "17301"),
        ("r-chapo", "17500"),
        ("Mencho Oseguera", "17301"),
    }
    chapo = next(h["id"] for h in pending if h["record"] == "r-chapo")
    decided = ok("screen", "decide", str(chapo), "match", "--note", "same CURP in the case file", "--config", config)
    assert f"Hit {chapo} (Chapo Guzmán ~ GUZMAN LOERA, Joaquin Archivaldo): match." in decided.stdout
    table = ok("screen", "hits", "--config", config).stdout
    assert "match" in table and "GUZMAN LOERA" in table
    assert str(chapo) not in ok("screen", "hits", "--pending", "--config", config).stdout.split()
    everything = json.loads(ok("screen", "hits", "--all", "--json", "--config", config).stdout)
    assert any(h["entry"] == "17400" and h["removed"] for h in everything)
    wrong = alianza("screen", "decide", str(chapo), "maybe", "--config", config)
    assert wrong.exit_code == 2 and "A decision is one of match, false_positive" in wrong.stderr
    assert count(config, ScreeningHit) == 4
