"""Fixtures of the CLI tests: a node initialised by ``alianza init`` on each database backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from alianza.cli.main import app
from tests.conftest import PASSWORD

runner = CliRunner()


def alianza(*args: str | Path, input: str | None = None) -> Result:
    """Run ``alianza ARGS`` in-process; exceptions other than the CLI's own exits propagate to the test."""
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def ok(*args: str | Path) -> Result:
    result = alianza(*args)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


@pytest.fixture(autouse=True)
def _no_alianza_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings and the acting user come from the command line only, and nothing is written to the cwd."""
    for key in list(os.environ):
        if key.startswith("ALIANZA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Path:
    """``alianza init`` of a Mexican node on the test database; returns its settings file."""
    result = ok(
        "init",
        "--dir",
        tmp_path / "node",
        "--country",
        "MX",
        "--name",
        "Nodo CLI",
        "--database-url",
        db_url,
        "--admin-password",
        PASSWORD,
    )
    path = tmp_path / "node" / "alianza.toml"
    assert str(path) in result.stdout
    return path
