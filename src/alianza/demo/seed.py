"""Load the demo scenario into an initialised node.

The demo goes through the same importer as any bulk load, so it exercises the real validation rules;
everything the public record does not give (due dates, statuses, progress, targets) is flagged illustrative
in the data files and shown as such by the UI and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from alianza.accounts import service as accounts
from alianza.accounts.models import User
from alianza.cooperation.importer import ImportResult, import_document
from alianza.cooperation.models import Commitment
from alianza.errors import ConfigurationError
from alianza.node import Node
from alianza.vocab import vocabulary

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    agency: str


def demo_users() -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = yaml.safe_load((DATA_DIR / "users.yaml").read_text(encoding="utf-8"))["users"]
    return users


def demo_document() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name in ("indicators", "commitments", "meetings"):
        data = yaml.safe_load((DATA_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        document[name] = data[name]
    return document


def seed(node: Node) -> tuple[ImportResult, list[DemoLogin]]:
    """Create the demo users of the node's country and load the scenario in one transaction.

    Both nodes follow the same joint commitments, so both get the whole scenario; each gets only its own
    country's officials. A node that already has commitments is refused.
    """
    logins: list[DemoLogin] = []
    with node.db.transaction() as session:
        if session.scalar(select(Commitment.id).limit(1)) is not None:
            raise ConfigurationError("This node already has commitments; seed the demo only into a new node.")
        actor: User | None = None
        agencies = vocabulary().agencies
        own = [u for u in demo_users() if agencies[u["agency"]].country == node.settings.country]
        for spec in own:
            existing = session.scalar(select(User).where(User.username == spec["username"]))
            user = existing or accounts.create_user(
                session,
                username=spec["username"],
                password=spec["password"],
                role=spec["role"],
                agency=spec["agency"],
                display_name=spec.get("display_name"),
                lang=spec.get("lang", "en"),
            )
            logins.append(DemoLogin(spec["username"], spec["password"], spec["role"], spec["agency"]))
            if actor is None and user.role == "coordinator" and user.agency.startswith(node.settings.country.lower()):
                actor = user
        if actor is None:
            raise ConfigurationError("The demo users include no coordinator of this node's country.")
        result = import_document(session, actor, demo_document(), source="demo scenario")
    return result, logins
