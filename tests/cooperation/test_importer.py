"""Bulk import: the demo scenario loads through it; a bad file writes nothing and names every bad line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.cooperation.importer import import_file
from alianza.cooperation.models import Commitment, Decision, FollowUp, Indicator, Meeting, Observation
from alianza.demo.seed import seed
from alianza.errors import ValidationError
from alianza.node import Node


def _counts(node: Node) -> dict[str, int]:
    with node.db.reading() as session:
        return {
            m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Commitment, Meeting, Decision, Indicator, Observation, FollowUp)
        }


def test_demo_scenario_loads_with_the_public_record(node: Node) -> None:
    result, logins = seed(node)
    counts = _counts(node)
    assert counts["meetings"] == 3
    assert counts["commitments"] == result.created["commitments"] >= 14
    assert counts["indicators"] == 8
    assert {login.role for login in logins} >= {"coordinator", "analyst", "legal_reviewer", "auditor"}
    with node.db.reading() as session:
        mcallen = session.scalar(select(Meeting).where(Meeting.place.like("McAllen%")))
        assert mcallen is not None and str(mcallen.date) == "2025-09-26"
        created_there = session.scalars(select(Commitment).where(Commitment.origin_meeting_id == mcallen.id)).all()
        assert created_there, "the McAllen meeting's decisions create commitments"
        assert all(c.origin_date == mcallen.date for c in created_there)
        taps = session.scalar(select(Indicator).where(Indicator.code == "pemex_taps"))
        assert taps is not None
        assert {o.value for o in taps.observations} >= {10363.0, 13946.0, 14890.0}
        assert all(o.source for o in taps.observations)
    with pytest.raises(Exception, match="already has commitments"):
        seed(node)


BAD_CSV = """title_en,title_es,areas,country,lead_agency,due_date
Good one,Uno bueno,cartels,MX,mx_sspc,2026-12-01
Unknown area,Área desconocida,smuggling,MX,mx_sspc,2026-12-01
No Spanish,,cartels,MX,mx_sspc,2026-12-01
Too early,Muy pronto,cartels,MX,mx_sspc,2025-01-01
"""


def test_bad_csv_names_every_line_and_writes_nothing(node: Node, coordinator: User, tmp_path: Path) -> None:
    path = tmp_path / "commitments.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    before = _counts(node)
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_file(session, coordinator, path)
    lines = sorted({d["line"] for d in caught.value.details})
    assert lines == [3, 4, 5]
    assert _counts(node) == before


def test_good_csv_lists_are_split(node: Node, coordinator: User, tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(
        "title_en,title_es,areas,country,lead_agency,supporting_agencies,due_date,status\n"
        "Fuel theft,Robo de combustible,fuel_theft;cartels,MX,mx_sspc,mx_pemex;mx_fgr,2026-12-01,agreed\n",
        encoding="utf-8",
    )
    with node.db.transaction() as session:
        result = import_file(session, coordinator, path)
    assert result.created["commitments"] == 1
    with node.db.reading() as session:
        c = session.scalars(select(Commitment)).one()
        assert c.areas == ["fuel_theft", "cartels"]
        assert c.supporting_agencies == ["mx_pemex", "mx_fgr"]


def test_yaml_problems_carry_their_line(node: Node, coordinator: User, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "commitments:\n"
        "  - title: {en: A, es: A}\n"
        "    areas: [cartels]\n"
        "    country: MX\n"
        "    lead_agency: mx_sspc\n"
        "    due_date: 2026-12-01\n"
        "  - title: {en: B, es: B}\n"
        "    areas: [cartels]\n"
        "    country: MX\n"
        "    lead_agency: mx_nowhere\n"
        "    due_date: 2026-12-01\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as caught, node.db.transaction() as session:
        import_file(session, coordinator, path)
    assert [(d["line"], d["field"]) for d in caught.value.details] == [(7, "lead_agency")]
    assert _counts(node)["commitments"] == 0


def test_malformed_yaml_reports_the_line(node: Node, coordinator: User, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("commitments:\n  - title: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid YAML") as caught, node.db.transaction() as session:
        import_file(session, coordinator, path)
    assert caught.value.details[0]["line"] is not None
