"""Shared pieces of the interchange tests: a network of records of every kind, and a second node to import into.

The records cover all fifteen kinds and all five TLP levels, with unusual markings (RED, H3, reliability X,
accuracy 4, a US person, sensitive categories, an explicit retention date), because a round trip that only ever
sees the defaults proves little.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alianza.accounts.models import User
from alianza.audit.models import AuditEntry
from alianza.node import Node, init_node, open_node
from alianza.records.models import Record
from alianza.records.schemas import Markings, RecordInput
from alianza.records.service import create_record, markings_of
from tests.conftest import PASSWORD
from tests.support.postgres import PostgresCluster

DEFAULTS = Markings(origin_agency="mx_fgr", legal_basis="mx_cnpp", purpose="intelligence")


def _markings(**changes: Any) -> dict[str, Any]:
    return DEFAULTS.model_dump() | changes


# (id, schema, properties, marking changes); ids are readable so that failures are too.
NETWORK: list[tuple[str, str, dict[str, list[str]], dict[str, Any]]] = [
    (
        "persona-1",
        "Person",
        {
            "name": ["José Ángel Pérez Núñez"],
            "alias": ["El Güero"],
            "birthDate": ["1980-05-17"],
            "nationality": ["mx"],
            "email": ["jose@example.mx"],
        },
        {"tlp": "AMBER+STRICT", "handling": "H2", "source_reliability": "A", "info_accuracy": "2"},
    ),
    (
        "persona-2",
        "Person",
        {"name": ["María Fernanda López"], "religion": ["ejemplo"]},
        {
            "tlp": "RED",
            "handling": "H3",
            "source_reliability": "X",
            "info_accuracy": "4",
            "us_person": True,
            "sensitive_categories": ["religious"],
            "sensitive_tied_to_crime": True,
            "retention_review": dt.date(2027, 3, 31),
            "criminal_predicate": "Recibe pagos de la red investigada.",
        },
    ),
    (
        "empresa-1",
        "Company",
        {"name": ["Transportes del Norte SA de CV"], "jurisdiction": ["mx"], "registrationNumber": ["TNO1234AB1"]},
        {"tlp": "GREEN", "source_reliability": "C", "info_accuracy": "3", "personal_data": False},
    ),
    (
        "org-1",
        "Organization",
        {"name": ["Cártel de Ejemplo"], "description": ["Organización de prueba; no existe."]},
        {"purpose": "border_security", "legal_basis": "mx_lsn"},
    ),
    ("membresia-1", "Membership", {"member": ["persona-1"], "organization": ["org-1"], "role": ["operador"]}, {}),
    ("propiedad-1", "Ownership", {"owner": ["persona-1"], "asset": ["empresa-1"], "percentage": ["60"]}, {}),
    (
        "cuenta-1",
        "BankAccount",
        {"accountNumber": ["012345678901234567"], "bankName": ["Banco Ejemplo"], "country": ["mx"]},
        {"purpose": "financial_intelligence", "legal_basis": "mx_lfpiorpi", "origin_agency": "mx_fgr"},
    ),
    (
        "pago-1",
        "Payment",
        {
            "payer": ["empresa-1"],
            "beneficiary": ["persona-2"],
            "payerAccount": ["cuenta-1"],
            "amount": ["250000"],
            "currency": ["MXN"],
            "date": ["2025-03-01"],
        },
        {"tlp": "RED"},
    ),
    (
        "vehiculo-1",
        "Vehicle",
        {"name": ["Tractocamión Kenworth"], "registrationNumber": ["AB-1234-C"], "owner": ["empresa-1"]},
        {},
    ),
    (
        "domicilio-1",
        "Address",
        {"full": ["Av. Revolución 1234, Tijuana, BC"], "street": ["Av. Revolución 1234"], "city": ["Tijuana"],
         "country": ["mx"]},
        {},
    ),
    ("domicilio-2", "Address", {"full": ["Bodega 7, kilómetro 12"]}, {}),
    (
        "identificacion-1",
        "Identification",
        {"holder": ["persona-1"], "number": ["PEPJ800517HBCRXN09"], "type": ["CURP"], "country": ["mx"]},
        {"tlp": "AMBER+STRICT"},
    ),
    (
        "arma-1",
        "Firearm",
        {"name": ["Pistola Colt"], "serialNumber": ["ABC123"], "caliber": [".38 Super"],
         "recoveryDate": ["2025-02-10"]},
        {"purpose": "firearms_tracing"},
    ),
    (
        "tunel-1",
        "Tunnel",
        {"name": ["Túnel Otay II"], "lengthMeters": ["520"], "entryCountry": ["mx"], "exitCountry": ["us"]},
        {"tlp": "CLEAR", "handling": "H1"},
    ),
    ("toma-1", "FuelTap", {"name": ["Toma clandestina km 45"], "pipeline": ["Tuxpan–Azcapotzalco"]}, {}),
    (
        "aseguramiento-1",
        "DrugSeizure",
        {"name": ["Aseguramiento Manzanillo"], "substance": ["fentanyl"], "quantity": ["120"],
         "quantityUnit": ["kg"], "date": ["2025-04-02"]},
        {},
    ),
    (
        "carpeta-1",
        "Case",
        {"name": ["Carpeta FED/FEMDO/123/2025"], "caseNumber": ["FED/FEMDO/123/2025"],
         "subject": ["persona-1", "empresa-1"]},
        {"tlp": "AMBER", "purpose": "prosecution"},
    ),
]  # fmt: skip


def seed_network(node: Node, user: User) -> list[str]:
    """Create the network on ``node`` (in an order where every link exists) and return the record ids."""
    with node.db.transaction() as session:
        for record_id, schema, properties, changes in NETWORK:
            data = RecordInput.model_validate(
                {"id": record_id, "schema": schema, "properties": properties, "markings": _markings(**changes)}
            )
            create_record(session, user, node.trail, node.settings.country, data)
    return [entry[0] for entry in NETWORK]


def snapshot(node: Node) -> dict[str, dict[str, Any]]:
    """Every record's schema, properties and full markings, by id: what a round trip must preserve."""
    with node.db.reading() as session:
        return {
            r.id: {
                "schema": r.schema,
                "properties": r.properties,
                "markings": markings_of(r).model_dump(),
                "origin_country": r.origin_country,
                "sensitive_categories": r.sensitive_categories,
            }
            for r in session.scalars(select(Record))
        }


def counts(node: Node) -> tuple[int, int]:
    """(records, audit entries): both must stay the same when an import is refused."""
    with node.db.reading() as session:
        records = session.scalar(select(func.count()).select_from(Record)) or 0
        entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return int(records), int(entries)


@contextmanager
def second_node(node: Node, request: pytest.FixtureRequest, directory: Path) -> Iterator[Node]:
    """A fresh Mexican node on the same kind of database as ``node``: where exported files are imported."""
    dropped: tuple[PostgresCluster, str] | None = None
    if node.db.is_sqlite:
        target = directory / "other.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        name = f"other_{uuid.uuid4().hex[:12]}"
        url = cluster.create_database(name, template="alianza_template").render_as_string(hide_password=False)
        dropped = (cluster, name)
    config = init_node(
        directory / "other-node",
        country="MX",
        name="Nodo receptor",
        database_url=url,
        admin_username="admin",
        admin_password=PASSWORD,
        admin_agency="mx_sre",
    )
    other = open_node(config)
    try:
        yield other
    finally:
        other.close()
        if dropped is not None:
            dropped[0].drop_database(dropped[1])
