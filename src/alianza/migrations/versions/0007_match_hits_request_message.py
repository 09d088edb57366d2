"""match hits: the request sent from an asker's hit (its outbox message)

The asker's hit points at the request message it became (``request_message_id``); the holder's hit at the
request it registered (``request_id``, already there). Both are filled here for hits requested before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_match_hits_request_message_id_outbox"), "outbox", ["request_message_id"], ["id"]
        )
    # A request cites its hit as 'match:<offer>:<hit ref>' (hitnohit.hit_reference).
    op.execute(
        "UPDATE match_hits SET request_message_id = (SELECT MIN(outbox.id) FROM outbox WHERE outbox.kind = 'request'"
        " AND outbox.recipient = match_hits.partner"
        " AND outbox.reference = 'match:' || match_hits.offer_id || ':' || match_hits.hit_ref)"
        " WHERE side = 'asker'"
    )
    op.execute(
        "UPDATE match_hits SET request_id = (SELECT MIN(requests.id) FROM requests"
        " WHERE requests.partner = match_hits.partner"
        " AND requests.reference = 'match:' || match_hits.offer_id || ':' || match_hits.hit_ref)"
        " WHERE side = 'holder' AND request_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("match_hits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_match_hits_request_message_id_outbox"), type_="foreignkey")
        batch_op.drop_column("request_message_id")
