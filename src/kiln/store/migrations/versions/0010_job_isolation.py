"""jobs: how a local job's processes were isolated (sandboxed, or not isolated and why)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "isolation",
                sa.String(512),
                nullable=True,
                comment="how its processes were isolated (local compute): sandboxed (…) or not isolated: why",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("isolation")
