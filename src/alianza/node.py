"""A node: its settings and database, created by ``alianza init`` and opened by every command and the server."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from alianza import migrations
from alianza.accounts.service import create_user
from alianza.audit.trail import AuditTrail
from alianza.errors import ConfigurationError
from alianza.identity import NodeIdentity, load_or_create
from alianza.policy.frameworks import Framework, load_framework
from alianza.settings import DEFAULT_CONFIG_NAME, NodeSettings, load_settings, write_settings
from alianza.store.db import Database
from alianza.store.meta import get_meta, set_meta


@dataclass
class Node:
    settings: NodeSettings
    db: Database
    identity: NodeIdentity

    @property
    def trail(self) -> AuditTrail:
        return AuditTrail(self.identity)

    @cached_property
    def framework(self) -> Framework:
        """The node's legal framework (its country's policy files plus the common ones), parsed once."""
        return load_framework(self.settings.country)

    def close(self) -> None:
        self.db.dispose()


def init_node(
    directory: Path,
    *,
    country: str,
    name: str,
    database_url: str | None,
    admin_username: str,
    admin_password: str,
    admin_agency: str,
    lang: str = "en",
) -> Path:
    """Create the node's folder, settings file, schema and first admin; refuses to overwrite a node."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / DEFAULT_CONFIG_NAME
    if config_path.exists():
        raise ConfigurationError(
            "A node already exists in {dir}; use another folder or remove it first.", dir=str(directory)
        )
    url = database_url or f"sqlite:///{(directory / 'alianza.db').resolve()}"
    settings = NodeSettings(
        country=country,  # type: ignore[arg-type]
        node_name=name,
        database_url=url,
        secret_key=secrets.token_urlsafe(32),
        data_dir=directory,
        default_lang=lang,  # type: ignore[arg-type]
    )
    db = Database(url)
    try:
        migrations.upgrade(url)
        with db.transaction() as session:
            existing = get_meta(session, "country")
            if existing is not None:
                raise ConfigurationError(
                    "The database at {url} already belongs to a node ({country}); give an empty database.",
                    url=_safe_url(url),
                    country=existing,
                )
            set_meta(session, "country", country)
            set_meta(session, "node_name", name)
            create_user(
                session,
                username=admin_username,
                password=admin_password,
                role="admin",
                agency=admin_agency,
                display_name=admin_username,
                lang=lang,
            )
    finally:
        db.dispose()
    write_settings(config_path, settings)
    (directory / "uploads").mkdir(exist_ok=True)
    load_or_create(directory)
    return config_path


def open_node(config: Path | None = None, *, migrate: bool = True) -> Node:
    """Open the node named by ``config`` (or found by the usual rules) and check its database is its own."""
    settings = load_settings(config)
    if migrate:
        migrations.upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.reading() as session:
        country = get_meta(session, "country")
    if country is None:
        db.dispose()
        raise ConfigurationError("The database is not initialised; run 'alianza init' first.")
    if country != settings.country:
        db.dispose()
        raise ConfigurationError(
            "The settings say country {settings} but the database belongs to {db}; fix the settings file.",
            settings=settings.country,
            db=country,
        )
    return Node(settings, db, load_or_create(settings.data_dir))


def _safe_url(url: str) -> str:
    """The URL without its password, so it can be shown and logged."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
