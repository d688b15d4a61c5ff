"""desk_login_attempts: failed and successful logins, for throttling and the audit (issue 8)

Revision ID: 442f6c896f26
Revises: 05e64f62ade1
Create Date: 2026-12-01 21:32:25.581763
"""

import sqlalchemy as sa
from alembic import op

revision = "442f6c896f26"
down_revision = "05e64f62ade1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_login_attempts_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_login_attempts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_desk_login_attempts_name"), ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_login_attempts_name"))
        batch_op.drop_index(batch_op.f("ix_desk_login_attempts_created_at"))
        batch_op.drop_index(batch_op.f("ix_desk_login_attempts_address"))

    op.drop_table("desk_login_attempts")
