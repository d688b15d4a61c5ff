"""desk_presence: agent status in the database, shared by every desk process (issue 13, branch deskA)

Revision ID: 7d3c1a9e5b20
Revises: 442f6c896f26
Create Date: 2026-12-01 22:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7d3c1a9e5b20"
down_revision = "442f6c896f26"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_presence",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["desk_agents.id"],
        ),
        sa.PrimaryKeyConstraint("agent_id"),
    )


def downgrade() -> None:
    op.drop_table("desk_presence")
