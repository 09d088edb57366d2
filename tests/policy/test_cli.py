"""``alianza policy test|show`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from alianza.cli.policy import app
from alianza.policy.decision_table import SHIPPED_TABLES

runner = CliRunner()


def test_policy_test_runs_the_shipped_tables() -> None:
    result = runner.invoke(app, ["test"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("  PASS  ") for line in lines) > 80
    assert lines[-1].endswith("passed, 0 failed")
    assert "DEA shares a cartel financier's record with FGR for an investigation — allowed" in result.output


def test_policy_test_exits_1_on_a_failing_case(tmp_path: Path) -> None:
    text = SHIPPED_TABLES[0].read_text(encoding="utf-8")
    broken = text.replace(
        "expect: {outcome: deny, rules: [COMMON-TLP-RED], not_rules",
        "expect: {outcome: allow, rules: [COMMON-TLP-RED], not_rules",
        1,
    )
    assert broken != text
    path = tmp_path / "us.yaml"
    path.write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["test", str(path), "--lang", "es"])
    assert result.exit_code == 1
    assert "FALLA  TLP:RED informant report never leaves the node — denied (línea" in result.output
    assert "resultado: se esperaba allow, se obtuvo deny" in result.output
    assert result.output.splitlines()[-1].endswith("correctos, 1 fallidos")


def test_policy_test_exits_2_on_a_malformed_table(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("framework: CA\ncases: []\n", encoding="utf-8")
    result = runner.invoke(app, ["test", str(path)])
    assert result.exit_code == 2
    assert "framework must be US or MX" in result.output


def test_policy_show_lists_rules_with_reasons() -> None:
    result = runner.invoke(app, ["show", "--country", "MX", "--lang", "es"])
    assert result.exit_code == 0, result.output
    assert "Marco MX: 21 reglas" in result.output
    assert "Reglas que deniegan la entrega" in result.output
    assert "MX-CPEUM-40-AUTHORISATION  [CPEUM Art. 40]  mx/constitucion.cedar:" in result.output
    assert "autorización expresa del Estado mexicano" in result.output
    assert "Vence en 3 días." in result.output
    assert "US-28CFR23-PREDICATE" not in result.output


def test_policy_show_json_and_bad_country() -> None:
    result = runner.invoke(app, ["show", "--json"])
    rows = json.loads(result.output)
    assert {r["framework"] for r in rows} == {"US", "MX"}
    assert {"US-28CFR23-SENSITIVE-RELIGIOUS", "MX-LSN-FOREIGN-AGENT-REPORT"} <= {r["id"] for r in rows}
    bad = runner.invoke(app, ["show", "--country", "CA"])
    assert bad.exit_code == 2 and "Unknown legal framework CA" in bad.output
