"""The vocabularies load, are complete in both languages, and a broken file is refused with its name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alianza.errors import ConfigurationError
from alianza.vocab.loader import DATA_DIR, Vocabulary


def test_shipped_vocabularies_are_bilingual_and_consistent() -> None:
    vocab = Vocabulary()
    assert {"cartels", "border_tunnels", "illicit_finance", "fuel_theft", "public_health"} <= set(vocab.areas)
    assert {"mx_sre", "mx_fgr", "mx_uif", "us_atf", "us_dea", "us_cbp"} <= set(vocab.agencies)
    assert {a.country for a in vocab.agencies.values()} == {"US", "MX"}
    for group in (vocab.areas, vocab.agencies, vocab.statuses, vocab.principles, vocab.roles):
        for term in group.values():
            assert term.label.en and term.label.es
            assert term.text("es") == term.label.es
    assert vocab.statuses["overdue"].computed
    assert "overdue" not in {s.code for s in vocab.settable_statuses()}
    assert vocab.statuses["completed"].next == ()


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def test_missing_spanish_label_names_file_and_entry(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    areas = data / "areas.yaml"
    text = areas.read_text(encoding="utf-8")
    first_es = text.index("es:")
    areas.write_text(text[:first_es] + "fr:" + text[first_es + 3 :], encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        Vocabulary(data)
    assert "areas.yaml" in str(caught.value)
    assert "entry 1" in str(caught.value)


def test_transition_to_unknown_status_is_refused(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    statuses = data / "statuses.yaml"
    statuses.write_text(
        statuses.read_text(encoding="utf-8").replace("next: [agreed", "next: [approved", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match="approved"):
        Vocabulary(data)


def test_unparseable_file_is_refused(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    (data / "roles.yaml").write_text("roles: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"roles\.yaml"):
        Vocabulary(data)
