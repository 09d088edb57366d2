"""The FollowTheMoney model extended with the kinds the measures need.

FtM (the model of OCCRP Aleph and OpenSanctions) defines persons, companies, accounts, payments, ownership and
membership. Drug seizures, firearms (eTrace fields), tunnels, illegal fuel taps and cases are not in it, so they
are written as FtM schema files of our own (``records/schema/*.yaml``) and loaded into one model with FtM's:
validation, captions and the FtM JSON export then work the same for every kind, and a consumer who loads our
schema files reads our exports with FtM itself.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import followthemoney
from followthemoney.model import Model

SCHEMA_DIR = Path(__file__).parent / "schema"
FTM_SCHEMA_DIR = Path(followthemoney.__file__).parent / "schema"

# The kinds analysts create in Alianza (FtM has many more; these are the ones the measures use).
KINDS = (
    "Person",
    "Organization",
    "Company",
    "BankAccount",
    "Payment",
    "Ownership",
    "Membership",
    "Vehicle",
    "Address",
    "Identification",
    "DrugSeizure",
    "Firearm",
    "Tunnel",
    "FuelTap",
    "Case",
)
OWN_KINDS = frozenset({"DrugSeizure", "Firearm", "Tunnel", "FuelTap", "Case"})


class AlianzaModel(Model):
    """FtM's model plus our schema files, loaded in one pass so inheritance resolves across both."""

    def __init__(self, *paths: Path) -> None:
        self.path = str(paths[0])
        self.schemata = {}
        self.properties = set()
        self.qnames = {}
        for base in paths:
            for dirpath, _, filenames in os.walk(base):
                for filename in sorted(filenames):
                    if filename.endswith(".yaml"):
                        self._load(os.path.join(dirpath, filename))
        self.generate()


@cache
def model() -> Model:
    return AlianzaModel(FTM_SCHEMA_DIR, SCHEMA_DIR)
