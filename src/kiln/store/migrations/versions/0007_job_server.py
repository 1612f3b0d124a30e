"""jobs: the server that claimed (and runs) a job, for several servers on one database

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("server_id", sa.String(64), nullable=True, comment="the server that claimed the job")
        )
        batch.create_index("ix_jobs_server_id", ["server_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_server_id")
        batch.drop_column("server_id")
