"""jobs: pinned inputs and environment

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("pinned_inputs", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("environment", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("environment")
        batch.drop_column("pinned_inputs")
