"""computes: named local computes (type local): no address, their own job limit and GPUs

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
    with op.batch_alter_table("computes") as batch:
        batch.alter_column(
            "address", existing_type=sa.String(1024), nullable=True, comment="the Ray dashboard (Jobs API) URL"
        )
        batch.add_column(
            sa.Column(
                "max_concurrent_jobs",
                sa.Integer(),
                nullable=True,
                comment="a named local compute: jobs it runs at once (None: the workspace's local_concurrency)",
            )
        )
        batch.add_column(
            sa.Column(
                "gpus",
                sa.JSON(),
                nullable=True,
                comment="a named local compute: the GPU ids its jobs may use (None: all of this machine's)",
            )
        )


def downgrade() -> None:
    op.execute("DELETE FROM computes WHERE type = 'local'")
    with op.batch_alter_table("computes") as batch:
        batch.drop_column("gpus")
        batch.drop_column("max_concurrent_jobs")
        batch.alter_column(
            "address", existing_type=sa.String(1024), nullable=False, comment="the Ray dashboard (Jobs API) URL"
        )
