"""English and Spanish for every user-facing string.

Strings in code and templates are English gettext msgids; Spanish lives in the ``.po`` catalogs under
``locales/es/LC_MESSAGES/`` (one per part of the product: ``web.po``, ``reports.po``, ``errors.po``...).
The catalog is read with Babel at first use instead of being compiled to ``.mo`` at build time, so a fresh
checkout needs no build step and a translator's edit shows up on the next start. Labels that are data
(vocabularies, demo records) carry both languages themselves and are picked with ``pick``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po

Lang = Literal["en", "es"]
LANGS: tuple[Lang, ...] = ("en", "es")
CATALOG_DIR = Path(__file__).parent / "locales"

Gettext = Callable[[str], str]


def normalise_lang(value: str | None, default: Lang = "en") -> Lang:
    """Turn an Accept-Language header, a form value or a profile field into ``en`` or ``es``."""
    if not value:
        return default
    for part in value.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default


@cache
def _catalog(lang: Lang) -> Mapping[str, str]:
    if lang == "en":
        return {}
    table: dict[str, str] = {}
    for path in sorted((CATALOG_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        table.update({str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy})
    return table


def gettext_for(lang: Lang) -> Gettext:
    """A gettext function for ``lang``; an untranslated msgid falls back to English."""
    table = _catalog(lang)

    def gettext(message: str) -> str:
        return table.get(message, message)

    return gettext


def catalog_msgids(lang: Lang = "es") -> set[str]:
    """The msgids the catalog translates (tests use it to prove nothing is left in English)."""
    return set(_catalog(lang))


def pick(labels: Mapping[str, str] | None, lang: Lang) -> str:
    """The label in ``lang`` from an ``{"en": ..., "es": ...}`` mapping, falling back to the other language."""
    if not labels:
        return ""
    return labels.get(lang) or labels.get("en") or labels.get("es") or ""
