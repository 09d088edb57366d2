"""The ``alianza`` command: init, commitments, meetings, indicators, vocabularies, users, tokens, import, demo.

Most tests run the Typer app in-process (CliRunner) against a node on SQLite and on PostgreSQL; one test runs
the installed ``alianza`` entry point as a real process, the way an operator does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.cooperation.models import Commitment, Decision, FollowUp, Indicator, Meeting, Observation
from alianza.node import open_node
from alianza.store.db import Base
from alianza.web.app import create_app
from tests.cli.conftest import alianza, ok
from tests.conftest import PASSWORD

CSV_HEADER = "title_en,title_es,areas,country,lead_agency,due_date,supporting_agencies,status\n"
CSV_ROW_LABS = "Dismantle labs,Desmantelar laboratorios,cartels;illicit_finance,MX,mx_fgr,2027-01-31,mx_semar; mx_gn,\n"
CSV_ROW_GUNS = "Trace firearms,Rastrear armas,drugs_arms,US,us_atf,2026-12-31,,agreed\n"


def count(config: Path, model: type[Base]) -> int:
    node = open_node(config, migrate=False)
    try:
        with node.db.reading() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        node.close()


def counts(config: Path) -> dict[str, int]:
    models: list[type[Base]] = [Commitment, FollowUp, Meeting, Decision, Indicator, Observation]
    return {m.__name__: count(config, m) for m in models}


def as_json(stdout: str) -> Any:
    return json.loads(stdout)


def add_commitment(config: Path, *extra: str) -> None:
    ok(
        "commitment",
        "add",
        "--config",
        config,
        "--title-en",
        "Dismantle clandestine labs",
        "--title-es",
        "Desmantelar laboratorios clandestinos",
        "--area",
        "cartels",
        "--area",
        "illicit_finance",
        "--country",
        "mx",
        "--lead",
        "mx_fgr",
        "--support",
        "mx_semar",
        "--due",
        "2027-06-30",
        *extra,
    )


# --- init -----------------------------------------------------------------------------------------------


def test_init_refuses_an_existing_node(config: Path, db_url: str, tmp_path: Path) -> None:
    assert config.exists()
    assert count(config, User) == 1
    again = alianza("init", "--dir", config.parent, "--country", "MX", "--name", "Otro", "--admin-password", PASSWORD)
    assert again.exit_code == 2
    assert "already exists" in again.stderr
    assert "Traceback" not in again.output
    # Another folder pointing at the same database is refused too: the database belongs to a node.
    other = alianza(
        "init",
        "--dir",
        tmp_path / "other",
        "--country",
        "MX",
        "--name",
        "Otro",
        "--database-url",
        db_url,
        "--admin-password",
        PASSWORD,
    )
    assert other.exit_code == 2
    assert "already belongs to a node" in other.stderr
    assert not (tmp_path / "other" / "alianza.toml").exists()
    assert count(config, User) == 1


def test_init_validates_its_input(tmp_path: Path) -> None:
    wrong_country = alianza(
        "init", "--dir", tmp_path / "n", "--country", "CA", "--name", "x", "--admin-password", PASSWORD
    )
    assert wrong_country.exit_code == 2
    assert "US or MX" in wrong_country.output
    short = alianza("init", "--dir", tmp_path / "n", "--country", "US", "--name", "x", "--admin-password", "short")
    assert short.exit_code == 2
    assert "12 characters" in short.stderr
    assert not (tmp_path / "n" / "alianza.toml").exists()


# --- commitments ----------------------------------------------------------------------------------------


def test_commitment_add_list_update_note_show(config: Path) -> None:
    add_commitment(config)
    added = alianza("commitment", "list", "--json", "--config", config)
    [row] = as_json(added.stdout)
    assert row["id"] == 1
    assert row["country"] == "MX"
    assert row["status"] == "proposed"
    assert row["title"] == "Dismantle clandestine labs"
    [spanish] = as_json(ok("commitment", "list", "--json", "--lang", "es", "--config", config).stdout)
    assert spanish["title"] == "Desmantelar laboratorios clandestinos"
    table = ok("commitment", "list", "--config", config).stdout
    assert "ID" in table and "Dismantle clandestine labs" in table

    updated = ok("commitment", "update", "1", "--status", "agreed", "--note", "Agreed at the SIG", "--config", config)
    assert "version 2" in updated.stdout and "agreed" in updated.stdout

    stale = alianza("commitment", "update", "1", "--status", "in_progress", "--version", "1", "--config", config)
    assert stale.exit_code == 2
    assert "conflict" in stale.stderr
    assert '"current"' in stale.stderr  # both versions are shown

    illegal = alianza("commitment", "update", "1", "--status", "proposed", "--config", config)
    assert illegal.exit_code == 2
    assert "allowed: in_progress, at_risk, dropped" in illegal.stderr

    ok("commitment", "note", "1", "Primer operativo conjunto realizado.", "--config", config)
    empty_note = alianza("commitment", "note", "1", "   ", "--config", config)
    assert empty_note.exit_code == 2

    shown = as_json(ok("commitment", "show", "1", "--config", config).stdout)
    assert shown["status"] == "agreed"
    assert shown["areas"] == ["cartels", "illicit_finance"]
    assert shown["supporting_agencies"] == ["mx_semar"]
    assert [t["kind"] for t in shown["timeline"]] == ["created", "updated", "note"]
    assert shown["timeline"][1]["changes"] == {"status": ["proposed", "agreed"]}
    assert shown["timeline"][1]["note"] == "Agreed at the SIG"
    assert shown["timeline"][1]["by"] == "admin"
    assert shown["timeline"][2]["note"] == "Primer operativo conjunto realizado."

    missing = alianza("commitment", "show", "99", "--config", config)
    assert missing.exit_code == 2
    assert "No commitment with id 99" in missing.stderr


def test_commitment_add_refuses_bad_input_and_writes_nothing(config: Path) -> None:
    result = alianza(
        "commitment",
        "add",
        "--config",
        config,
        "--title-en",
        "x",
        "--title-es",
        "x",
        "--area",
        "atlantis",
        "--country",
        "MX",
        "--lead",
        "us_dea",
        "--due",
        "2025-01-01",
    )
    assert result.exit_code == 2
    for field in ("areas", "lead_agency", "due_date"):
        assert f"field {field}" in result.stderr
    assert count(config, Commitment) == 0


def test_commitment_list_filters(config: Path) -> None:
    add_commitment(config)
    add_commitment(config, "--status", "in_progress")
    ok("commitment", "update", "2", "--due", "2025-09-30", "--config", config)
    overdue = as_json(ok("commitment", "list", "--json", "--status", "overdue", "--config", config).stdout)
    assert [r["id"] for r in overdue] == [2]
    assert [
        r["id"] for r in as_json(ok("commitment", "list", "--json", "--agency", "mx_semar", "--config", config).stdout)
    ] == [2, 1]
    assert as_json(ok("commitment", "list", "--json", "--area", "fuel_theft", "--config", config).stdout) == []
    assert len(as_json(ok("commitment", "list", "--json", "--country", "MX", "--config", config).stdout)) == 2


def test_commitment_list_country_is_case_insensitive_like_add(config: Path) -> None:
    add_commitment(config)
    assert len(as_json(ok("commitment", "list", "--json", "--country", "mx", "--config", config).stdout)) == 1


# --- meetings, indicators, vocabularies -----------------------------------------------------------------


def test_meeting_add_list_ics(config: Path, tmp_path: Path) -> None:
    added = ok(
        "meeting",
        "add",
        "--config",
        config,
        "--title-en",
        "Security Implementation Group",
        "--title-es",
        "Grupo de Implementación de Seguridad",
        "--date",
        "2025-10-15",
        "--place",
        "Ciudad de México",
        "--agency",
        "mx_sre",
        "--agency",
        "us_state",
        "--next",
        "2026-01-20",
    )
    assert "Meeting 1 created" in added.stdout
    bad = alianza(
        "meeting", "add", "--config", config, "--title-en", "x", "--title-es", "x",
        "--date", "2025-10-15", "--place", "x", "--agency", "nope",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert "field agencies" in bad.stderr

    [row] = as_json(ok("meeting", "list", "--json", "--lang", "es", "--config", config).stdout)
    assert row == {
        "id": 1,
        "date": "2025-10-15",
        "place": "Ciudad de México",
        "decisions": 0,
        "title": "Grupo de Implementación de Seguridad",
    }
    target = tmp_path / "meetings.ics"
    ok("meeting", "ics", "-o", target, "--lang", "es", "--config", config)
    [event] = Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Grupo de Implementación de Seguridad"
    assert str(event["LOCATION"]) == "Ciudad de México"


def test_indicator_add_observe_list(config: Path) -> None:
    ok(
        "indicator", "add", "--config", config, "--code", "fuel_taps",
        "--name-en", "Illegal fuel taps", "--name-es", "Tomas clandestinas",
        "--unit-en", "taps", "--unit-es", "tomas", "--area", "fuel_theft", "--direction", "decrease",
        "--baseline", "100", "--baseline-date", "2025-01-31", "--target", "50", "--target-date", "2026-12-31",
    )  # fmt: skip
    ok(
        "indicator",
        "observe",
        "fuel_taps",
        "--value",
        "75",
        "--date",
        "2025-12-31",
        "--source",
        "Pemex",
        "--config",
        config,
    )

    no_source = alianza(
        "indicator", "observe", "fuel_taps", "--value", "70", "--date", "2026-01-31", "--config", config
    )
    assert no_source.exit_code == 2
    assert "--source" in no_source.output
    duplicate = alianza(
        "indicator",
        "observe",
        "fuel_taps",
        "--value",
        "70",
        "--date",
        "2025-12-31",
        "--source",
        "x",
        "--config",
        config,
    )
    assert duplicate.exit_code == 2
    assert "already has an observation on 2025-12-31" in duplicate.stderr
    unknown = alianza(
        "indicator", "observe", "nothing", "--value", "1", "--date", "2025-12-31", "--source", "x", "--config", config
    )
    assert unknown.exit_code == 2
    assert count(config, Observation) == 1

    [row] = as_json(ok("indicator", "list", "--json", "--lang", "es", "--config", config).stdout)
    assert row == {
        "code": "fuel_taps",
        "area": "fuel_theft",
        "latest": 75.0,
        "date": "2025-12-31",
        "progress": "50%",
        "name": "Tomas clandestinas",
    }


def test_vocab_in_spanish(tmp_path: Path) -> None:
    rows = as_json(ok("vocab", "areas", "--lang", "es", "--json").stdout)
    labels = {r["code"]: r["label"] for r in rows}
    assert labels["cartels"] == "Combate a los cárteles"
    assert labels["fuel_theft"] == "Prevención del robo de combustible"
    agencies = as_json(ok("vocab", "agencies", "--json").stdout)
    assert {"mx_fgr", "us_atf"} <= {a["code"] for a in agencies}
    assert {a["country"] for a in agencies} == {"US", "MX"}
    wrong = alianza("vocab", "colours")
    assert wrong.exit_code == 2


# --- users and tokens -----------------------------------------------------------------------------------


def test_user_add_and_token_authenticate_against_the_api(config: Path) -> None:
    ok(
        "user",
        "add",
        "coord.mx",
        "--role",
        "coordinator",
        "--agency",
        "mx_sre",
        "--password",
        PASSWORD,
        "--lang",
        "es",
        "--config",
        config,
    )
    taken = alianza(
        "user",
        "add",
        "coord.mx",
        "--role",
        "coordinator",
        "--agency",
        "mx_sre",
        "--password",
        PASSWORD,
        "--config",
        config,
    )
    assert taken.exit_code == 2
    assert "taken" in taken.stderr
    users = {u["username"]: u for u in as_json(ok("user", "list", "--json", "--config", config).stdout)}
    assert users["coord.mx"]["role"] == "coordinator"
    assert users["coord.mx"]["lang"] == "es"

    # Only admins create users.
    refused = alianza(
        "user", "add", "intruder", "--role", "admin", "--agency", "mx_sre", "--password", PASSWORD,
        "--user", "coord.mx", "--config", config,
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "permission_denied" in refused.stderr

    token = ok("token", "create", "--user", "coord.mx", "--name", "script", "--config", config).stdout.strip()
    assert token.startswith("alz_")
    node = open_node(config)
    try:
        with TestClient(create_app(node), base_url="http://127.0.0.1") as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
            assert me.json()["username"] == "coord.mx"
            assert me.json()["role"] == "coordinator"
            created = client.post(
                "/api/v1/commitments",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "title_en": "From a script",
                    "title_es": "Desde un script",
                    "areas": ["cartels"],
                    "country": "MX",
                    "lead_agency": "mx_fgr",
                    "due_date": "2027-01-31",
                },
            )
            assert created.status_code == 201, created.text
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    finally:
        node.close()
    [timeline_entry] = as_json(ok("commitment", "show", "1", "--config", config).stdout)["timeline"]
    assert timeline_entry["by"] == "coord.mx"


# --- import ---------------------------------------------------------------------------------------------


def test_import_valid_csv(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "commitments.csv"
    path.write_text(CSV_HEADER + CSV_ROW_LABS + CSV_ROW_GUNS, encoding="utf-8")
    result = ok("import", path, "--config", config)
    assert "Created 2 commitments" in result.stdout
    rows = as_json(ok("commitment", "list", "--json", "--config", config).stdout)
    assert [(r["country"], r["status"]) for r in rows] == [("US", "agreed"), ("MX", "proposed")]
    labs = as_json(ok("commitment", "show", str(rows[1]["id"]), "--config", config).stdout)
    assert labs["areas"] == ["cartels", "illicit_finance"]
    assert labs["supporting_agencies"] == ["mx_semar", "mx_gn"]


def test_import_csv_with_bad_rows_writes_nothing_and_names_every_line(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        CSV_HEADER
        + CSV_ROW_LABS  # line 2: fine
        + "Unknown area,Área desconocida,atlantis,MX,mx_fgr,2027-01-31,,\n"  # line 3
        + "No Spanish title,,cartels,MX,mx_fgr,2027-01-31,,\n"  # line 4
        + "Due before origin,Vence antes,cartels,MX,mx_fgr,2025-01-01,,\n",  # line 5
        encoding="utf-8",
    )
    before = counts(config)
    result = alianza("import", path, "--config", config)
    assert result.exit_code == 2
    assert "3 problem(s)" in result.stderr
    assert "nothing was imported" in result.stderr
    assert "line 3 field areas" in result.stderr
    assert "line 4 field title_es" in result.stderr
    assert "line 5 field due_date" in result.stderr
    assert "line 2" not in result.stderr
    assert counts(config) == before


def test_import_csv_saved_by_excel_with_a_bom(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (CSV_HEADER + CSV_ROW_LABS).encode("utf-8"))
    result = alianza("import", path, "--config", config)
    assert result.exit_code == 0, result.stderr
    assert count(config, Commitment) == 1


def test_import_dry_run_writes_nothing_but_reports_counts(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "commitments.csv"
    path.write_text(CSV_HEADER + CSV_ROW_LABS + CSV_ROW_GUNS, encoding="utf-8")
    before = counts(config)
    result = ok("import", path, "--dry-run", "--config", config)
    assert "Dry run, nothing written: would create 2 commitments" in result.stdout
    assert counts(config) == before


YAML_WITH_A_BAD_ENTRY = """\
commitments:
  - key: good
    title:
      en: A good one
      es: Uno bueno
    areas: [cartels]
    country: MX
    lead_agency: mx_fgr
    due_date: 2027-01-31
  - key: bad
    title: {en: A bad one, es: Uno malo}
    areas: [atlantis]
    country: MX
    lead_agency: mx_fgr
    due_date: 2027-01-31
"""


def test_import_yaml_reports_the_line_of_a_bad_entry(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(YAML_WITH_A_BAD_ENTRY, encoding="utf-8")
    before = counts(config)
    result = alianza("import", path, "--config", config)
    assert result.exit_code == 2
    assert "line 10 field areas" in result.stderr
    assert "atlantis" in result.stderr
    assert "line 2 " not in result.stderr
    assert counts(config) == before

    good = tmp_path / "good.yml"
    good.write_text(YAML_WITH_A_BAD_ENTRY.split("  - key: bad")[0], encoding="utf-8")
    assert "Created 1 commitments" in ok("import", good, "--config", config).stdout
    assert count(config, Commitment) == 1


def test_import_malformed_yaml_reports_the_line(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("commitments:\n  - key: a\n    country: MX\n\tareas: [cartels]\n", encoding="utf-8")
    result = alianza("import", path, "--config", config)
    assert result.exit_code == 2
    assert "broken.yaml is not valid YAML" in result.stderr
    assert "line 4" in result.stderr
    assert "Traceback" not in result.output
    assert count(config, Commitment) == 0


def test_import_refuses_other_file_types(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{}", encoding="utf-8")
    result = alianza("import", path, "--config", config)
    assert result.exit_code == 2
    assert "plan.json" in result.stderr


# --- demo and report ------------------------------------------------------------------------------------


def test_demo_seed_loads_the_scenario_once(config: Path) -> None:
    result = ok("demo", "seed", "--config", config)
    assert "21 commitments" in result.stdout
    assert "coordinator.mx" in result.stdout
    assert count(config, Commitment) == 21
    assert count(config, Meeting) == 3
    assert count(config, Indicator) == 8
    before = counts(config)
    again = alianza("demo", "seed", "--config", config)
    assert again.exit_code == 2
    assert "already has commitments" in again.stderr
    assert counts(config) == before


def test_report_pdf_after_demo_seed(config: Path, tmp_path: Path) -> None:
    ok("demo", "seed", "--config", config)
    target = tmp_path / "out.pdf"
    result = ok(
        "report", "--lang", "es", "--from", "2025-09-01", "--to", "2026-01-31",
        "--format", "pdf", "-o", target, "--config", config,
    )  # fmt: skip
    assert str(target) in result.stdout
    assert target.read_bytes().startswith(b"%PDF")


# --- the installed command ------------------------------------------------------------------------------


def test_installed_entry_point(tmp_path: Path) -> None:
    """The console script an operator runs: help, init with SQLite, add and list a commitment."""
    exe = Path(sys.executable).with_name("alianza")
    assert exe.exists(), exe
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIANZA_")}

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    for group in ("init", "commitment", "meeting", "indicator", "import", "report", "demo"):
        assert group in helped.stdout

    init = run("init", "--dir", "node", "--country", "US", "--name", "US node", "--admin-password", PASSWORD)
    assert init.returncode == 0, init.stderr
    config = tmp_path / "node" / "alianza.toml"
    assert config.exists()
    assert (tmp_path / "node" / "alianza.db").exists()
    assert oct(config.stat().st_mode & 0o777) == "0o600"

    add = run(
        "commitment", "add", "--config", config, "--title-en", "Trace firearms", "--title-es", "Rastrear armas",
        "--area", "drugs_arms", "--country", "US", "--lead", "us_atf", "--due", "2026-12-31",
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert "Commitment 1 created" in add.stdout

    listed = run("commitment", "list", "--json", "--config", config)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["title"] == "Trace firearms"
    assert row["lead"] == "us_atf"

    failed = run("commitment", "show", "7", "--config", config)
    assert failed.returncode == 2
    assert failed.stderr.startswith("error [not_found]")
    assert "Traceback" not in failed.stderr
