"""rollouts: each endpoint's latest safe rollout, kept across restarts and seen by every server (kiln.rollout)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("endpoint", sa.String(255), primary_key=True),
        sa.Column(
            "id", sa.String(32), nullable=False, comment="this rollout (the endpoint's next one replaces the row)"
        ),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("view", sa.JSON(), nullable=False, comment="RolloutView as of its last phase or window boundary"),
        sa.Column("request", sa.JSON(), nullable=False, comment="RolloutRequest as started"),
        sa.Column("server_id", sa.String(64), nullable=False, comment="the workspace server that runs (ran) it"),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rollouts_server_id", "rollouts", ["server_id"])


def downgrade() -> None:
    op.drop_table("rollouts")
