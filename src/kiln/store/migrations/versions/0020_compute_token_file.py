"""computes: a Ray cluster's token file (Ray's token authentication): the path only, never the token

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("computes") as batch:
        batch.add_column(
            sa.Column(
                "token_file",
                sa.Text(),
                nullable=True,
                comment="a Ray cluster: the file on the server's machine its token is read from (never the token)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("computes") as batch:
        batch.drop_column("token_file")
