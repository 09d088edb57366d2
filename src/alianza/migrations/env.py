"""Alembic environment: gathers every domain's tables on the shared metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import alianza.accounts.models
import alianza.audit.models
import alianza.cooperation.models
import alianza.federation.checkpoints
import alianza.federation.inbox
import alianza.federation.outbox
import alianza.federation.partners
import alianza.matching.models
import alianza.matching.private_models
import alianza.matching.screening_models
import alianza.records.models
import alianza.releases.models
import alianza.store.meta  # noqa: F401  (registers the tables)
from alianza.store.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
