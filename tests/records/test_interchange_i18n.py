"""Every message the import/export code shows a user has its Spanish, with the same placeholders."""

from __future__ import annotations

import string
from types import ModuleType

import pytest

from alianza.i18n import catalog_msgids, gettext_for
from alianza.records.interchange import common, csv_mapping, ftm_lines, stix

MODULES = (common, csv_mapping, ftm_lines, stix)


def _templates(module: ModuleType) -> list[str]:
    """Module constants that are messages: upper-case names holding a sentence."""
    return [
        value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and " " in value and value.rstrip().endswith((".", "}"))
    ]


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_messages_are_translated_with_the_same_placeholders(module: ModuleType) -> None:
    templates = _templates(module)
    assert templates
    assert sorted(set(templates) - catalog_msgids("es")) == []
    spanish = gettext_for("es")
    for template in templates:
        assert _fields(spanish(template)) == _fields(template), template
