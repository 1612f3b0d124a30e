"""datastores: registered remote stores (credentials encrypted); data_assets.remote_path: references to remote data

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datastores",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("location", sa.JSON(), nullable=False, comment="account, container, bucket, path, url…"),
        sa.Column("credential_kind", sa.String(32), comment="None: anonymous access"),
        sa.Column("credential", sa.Text(), comment="the credential's fields, encrypted (Fernet)"),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), comment="the user who registered it"),
    )
    with op.batch_alter_table("data_assets") as batch:
        batch.add_column(
            sa.Column(
                "remote_path",
                sa.String(2048),
                nullable=True,
                comment="a reference to remote data (not copied): the path it names",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("data_assets") as batch:
        batch.drop_column("remote_path")
    op.drop_table("datastores")
