"""computes: registered compute targets (Ray clusters); jobs: their id on a Ray cluster

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "computes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("address", sa.String(1024), nullable=False, comment="the Ray dashboard (Jobs API) URL"),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), comment="the user who registered it"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "submission_id",
                sa.String(128),
                nullable=True,
                comment="its id on a Ray cluster (Ray Jobs API submission id); None on local compute",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("submission_id")
    op.drop_table("computes")
