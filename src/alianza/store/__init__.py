"""Persistence: the SQLAlchemy base, engines and the one-transaction-per-operation unit of work.

The store knows no domain; domains declare their tables on ``Base`` and the migrations package gathers them.
"""

from alianza.store.db import Base, Database, utcnow

__all__ = ["Base", "Database", "utcnow"]
