"""Facts for the gate tests: an ordinary lawful release per framework, changed one fact at a time."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from alianza.policy import Framework, RecordFacts, ReleaseFacts, load_framework
from alianza.policy.frameworks import FRAMEWORKS_DIR

TODAY = dt.date(2026, 3, 2)

US_RECORD = RecordFacts(
    record_id="us-dea-0001",
    schema="Person",
    tlp="AMBER",
    handling="H1",
    source_reliability="B",
    info_accuracy=2,
    origin_country="US",
    origin_agency="us_dea",
    partner_originated=False,
    originator_consent=False,
    personal_data=True,
    us_person=False,
    legal_basis="criminal_investigation",
    purpose="criminal_investigation",
    criminal_predicate=True,
    sensitive_categories=(),
    sensitive_tied_to_crime=False,
    retention_review=dt.date(2029, 6, 30),
)
US_RELEASE = ReleaseFacts(
    recipient_country="MX",
    recipient_agency="mx_fgr",
    recipient_organisation="mx_fgr",
    recipient_law_enforcement=True,
    recipient_equivalent_rules=True,
    purpose="criminal_investigation",
    legal_basis="routine_use",
    need_to_know=True,
    right_to_know=True,
    fields=("name", "birthDate", "nationality"),
)
MX_RECORD = replace(US_RECORD, record_id="mx-fgr-0001", origin_country="MX", origin_agency="mx_fgr")
MX_RELEASE = replace(
    US_RELEASE,
    recipient_country="US",
    recipient_agency="us_dea",
    recipient_organisation="us_dea",
    legal_basis="criminal_investigation",
)


@pytest.fixture(scope="session")
def us() -> Framework:
    return load_framework("US")


@pytest.fixture(scope="session")
def mx() -> Framework:
    return load_framework("MX")


@pytest.fixture
def frameworks_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped policy files, to break one file at a time."""
    target = tmp_path / "frameworks"
    shutil.copytree(FRAMEWORKS_DIR, target)
    return target
