"""jobs: the GPU ids a job holds; after the data asset, environment and endpoint branches

Revision ID: 0006
Revises: 0003, 0004, 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = ("0003", "0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "gpu_ids",
                sa.JSON(),
                nullable=False,
                server_default="[]",
                comment="GPUs handed to the job (held while active)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("gpu_ids")
