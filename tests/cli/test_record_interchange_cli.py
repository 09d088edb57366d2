"""`alianza record export` then `alianza record import` carry records and markings between nodes, and a bad
file writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from alianza.accounts.models import User
from alianza.cli.main import app
from alianza.node import Node
from alianza.records import service
from alianza.records.models import Record
from alianza.records.schemas import RecordInput


def _count(node: Node) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Record)) or 0)


def test_export_then_import_round_trip_and_refusal(node: Node, analyst: User, tmp_path: Path) -> None:
    data = RecordInput.model_validate(
        {
            "schema": "Person",
            "properties": {"name": ["Ovidio Guzmán López"]},
            "markings": {
                "origin_agency": "mx_fgr",
                "tlp": "AMBER",
                "legal_basis": "mx_cnpp",
                "purpose": "criminal_investigation",
            },
        }
    )
    with node.db.transaction() as session:
        service.create_record(session, analyst, node.trail, "MX", data)
    config = str(node.settings.config_file)
    runner = CliRunner()
    for fmt in ("ftm", "stix"):
        out = tmp_path / f"export.{fmt}"
        done = runner.invoke(
            app, ["record", "export", "--format", fmt, "-o", str(out), "--config", config, "--user", "analyst"]
        )
        assert done.exit_code == 0, done.output
        assert "Ovidio" in out.read_text(encoding="utf-8")
    stix = json.loads((tmp_path / "export.stix").read_text(encoding="utf-8"))
    assert stix["type"] == "bundle"

    lines = (tmp_path / "export.ftm").read_text(encoding="utf-8").splitlines()
    entity = json.loads(lines[0])
    entity["id"] = "copy-1"
    bad = dict(entity, id="copy-2", properties={"favouriteColour": ["red"]})
    mixed = tmp_path / "mixed.ftm"
    mixed.write_text(json.dumps(entity) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    before = _count(node)
    done = runner.invoke(
        app, ["record", "import", str(mixed), "--format", "ftm", "--config", config, "--user", "analyst"]
    )
    assert done.exit_code == 2
    assert "favouriteColour" in done.output
    assert _count(node) == before

    good = tmp_path / "good.ftm"
    good.write_text(json.dumps(entity) + "\n", encoding="utf-8")
    dry = runner.invoke(
        app, ["record", "import", str(good), "--format", "ftm", "--dry-run", "--config", config, "--user", "analyst"]
    )
    assert dry.exit_code == 0 and "would create 1" in dry.output
    assert _count(node) == before
    done = runner.invoke(
        app, ["record", "import", str(good), "--format", "ftm", "--config", config, "--user", "analyst"]
    )
    assert done.exit_code == 0, done.output
    assert _count(node) == before + 1
