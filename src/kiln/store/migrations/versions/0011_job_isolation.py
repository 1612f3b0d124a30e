"""jobs: how a local job's processes were isolated (sandboxed, or not isolated and why)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
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
