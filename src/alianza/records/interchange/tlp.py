"""TLP in STIX, both ways: our five TLP 2.0 levels to the OASIS marking definitions, and any TLP marking back.

Exports use the TLP 2.0 marking definitions OASIS publishes with fixed ids (cti-stix-common-objects,
``extension-definition-specifications/tlp-2.0``): only they can say CLEAR and AMBER+STRICT, and the official
``stix2-validator`` accepts them. Imports also understand the STIX 2.1 predefined TLP 1.0 ids (WHITE is read as
CLEAR), marking definitions of ``definition_type`` "tlp" that a bundle carries itself, OpenCTI's own marking ids
(``x_opencti_definition``) and "TLP:…" names, because MISP and OpenCTI exports use all of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

from alianza.records.schemas import Tlp

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
_TLP2: tuple[tuple[Tlp, str], ...] = (
    ("CLEAR", "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"),
    ("GREEN", "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
    ("AMBER", "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"),
    ("AMBER+STRICT", "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"),
    ("RED", "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"),
)
TLP2_IDS: dict[str, str] = dict(_TLP2)
# STIX 2.1 section 7.2.1.4: the predefined TLP 1.0 marking definitions.
TLP1_IDS: dict[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "CLEAR",  # TLP:WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "RED",
}
KNOWN_IDS: dict[str, Tlp] = {**TLP1_IDS, **{ident: level for level, ident in _TLP2}}
# From least to most restrictive: when an object carries several TLP markings the strictest one holds.
ORDER: tuple[Tlp, ...] = get_args(Tlp)


def marking_definition(level: Tlp) -> dict[str, Any]:
    """The TLP 2.0 marking-definition object exactly as OASIS publishes it, to ship inside our bundles."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level}",
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level.lower()}},
    }


def normalise(value: Any) -> Tlp | None:
    """ "TLP:AMBER+STRICT", "amber", "white", " Green " → our code; anything else → None."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper().replace(" ", "")
    text = text.removeprefix("TLP:").removeprefix("TLP")
    if text == "WHITE":
        return "CLEAR"
    for level in ORDER:
        if text == level:
            return level
    return None


def from_marking_definition(obj: Mapping[str, Any]) -> Tlp | None:
    """The TLP level a marking-definition object stands for, if it is a TLP marking at all."""
    ident = obj.get("id")
    if isinstance(ident, str) and ident in KNOWN_IDS:
        return KNOWN_IDS[ident]
    extensions = obj.get("extensions")
    if isinstance(extensions, Mapping):
        tlp2 = extensions.get(TLP2_EXTENSION)
        if isinstance(tlp2, Mapping) and (level := normalise(tlp2.get("tlp_2_0"))):
            return level
    definition = obj.get("definition")
    if str(obj.get("definition_type", "")).lower() == "tlp" and isinstance(definition, Mapping):
        for key in ("tlp", "TLP"):
            if level := normalise(definition.get(key)):
                return level
    # OpenCTI marks AMBER+STRICT and CLEAR with "statement" definitions of its own and says what they are here.
    opencti = str(obj.get("x_opencti_definition_type", "")).lower() == "tlp"
    if opencti and (level := normalise(obj.get("x_opencti_definition"))):
        return level
    name = obj.get("name")
    if isinstance(name, str) and name.strip().upper().startswith("TLP"):
        return normalise(name)
    return None


def strictest(levels: Iterable[Tlp | None]) -> Tlp | None:
    found = [level for level in levels if level is not None]
    return max(found, key=ORDER.index) if found else None
