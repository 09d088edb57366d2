"""Every English message the release gate shows has its Spanish translation in policy.po."""

from __future__ import annotations

import ast
from pathlib import Path

from alianza.i18n import catalog_msgids
from alianza.policy.decision_table import CASE_PREFIX

SRC = Path(__file__).resolve().parents[2] / "src" / "alianza"
SOURCES = [*sorted((SRC / "policy").glob("*.py")), SRC / "cli" / "policy.py"]
MARKERS = {"ConfigurationError", "ValidationError", "N_", "_"}


def _msgids() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            value = node.args[0].value
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if isinstance(value, str) and name in MARKERS:
                found.add(value)
            elif isinstance(value, str) and name == "_CaseError":
                found.add(CASE_PREFIX + value)
    return found


def test_every_policy_message_is_translated() -> None:
    msgids = _msgids()
    assert len(msgids) > 50
    assert sorted(msgids - catalog_msgids("es")) == []
