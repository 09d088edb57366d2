"""Key/value facts about the node itself (its country, the schema it was initialised with)."""

from __future__ import annotations

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alianza.store.db import Base


class NodeMeta(Base):
    __tablename__ = "node_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def get_meta(session: Session, key: str) -> str | None:
    return session.scalar(select(NodeMeta.value).where(NodeMeta.key == key))


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(NodeMeta, key)
    if row is None:
        session.add(NodeMeta(key=key, value=value))
    else:
        row.value = value
