"""Shared helpers of the API tests: the error-shape check, request bodies and row counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import func, select

from alianza.node import Node
from alianza.store.db import Base

ERROR_KEYS = {"code", "message", "details"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the API's single error shape with this status and code; returns the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip()
    return error


def detail_fields(error: dict[str, Any]) -> set[str]:
    """The ``field`` of every entry of a validation error's details."""
    details = error["details"]
    assert isinstance(details, list) and details, error
    for entry in details:
        assert {"field", "message"} <= set(entry), entry
        assert entry["message"]
    return {str(entry["field"]) for entry in details}


def commitment_body(**overrides: Any) -> dict[str, Any]:
    """A valid commitment of the Mexican side, due well in the future."""
    body: dict[str, Any] = {
        "title_en": "Dismantle clandestine drug laboratories",
        "title_es": "Desmantelar laboratorios clandestinos de drogas",
        "description_en": "Joint operations against synthetic-drug labs.",
        "description_es": "Operativos conjuntos contra laboratorios de drogas sintéticas.",
        "areas": ["cartels"],
        "country": "MX",
        "lead_agency": "mx_fgr",
        "supporting_agencies": ["mx_semar"],
        "due_date": "2027-06-30",
    }
    body.update(overrides)
    return body


def meeting_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title_en": "Security Implementation Group, first meeting",
        "title_es": "Grupo de Implementación de Seguridad, primera reunión",
        "date": "2025-10-15",
        "place": "Ciudad de México",
        "agenda_en": "Review of the commitments",
        "agenda_es": "Revisión de los compromisos",
    }
    body.update(overrides)
    return body


def indicator_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "fuel_taps",
        "name_en": "Illegal fuel taps detected",
        "name_es": "Tomas clandestinas detectadas",
        "unit_en": "taps per month",
        "unit_es": "tomas por mes",
        "area": "fuel_theft",
        "direction": "decrease",
        "source": "Pemex",
        "baseline_value": 100,
        "baseline_date": "2025-01-31",
        "target_value": 50,
        "target_date": "2026-12-31",
    }
    body.update(overrides)
    return body


def yesterday() -> str:
    return (dt.date.today() - dt.timedelta(days=1)).isoformat()


def count(node: Node, model: type[Base]) -> int:
    with node.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
