"""screening hits: what was typed (names, dates, nationalities, identifiers), to screen it again on a list change

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("screening_hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screening_hits", schema=None) as batch_op:
        batch_op.drop_column("subject")
