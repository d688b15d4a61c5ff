"""desk_messages.client_id + turn_node: a resent message stored once, a dead desk's turn finished (issue 12, nolost)

Revision ID: b4e2d71c9a10
Revises: 7d3c1a9e5b20
Create Date: 2026-12-02 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b4e2d71c9a10"
down_revision = "7d3c1a9e5b20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("desk_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("turn_node", sa.String(length=32), nullable=True))
        batch_op.create_index("uq_desk_messages_client", ["conversation_id", "client_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("desk_messages", schema=None) as batch_op:
        batch_op.drop_index("uq_desk_messages_client")
        batch_op.drop_column("turn_node")
        batch_op.drop_column("client_id")
