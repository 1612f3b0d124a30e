"""data assets: immutable versions of files and folders

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_assets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, comment="creation order"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, comment="sha256 tree hash of the content"),
        sa.Column("store_key", sa.String(512), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("name", "version", name="uq_data_assets_name_version"),
    )
    op.create_index("ix_data_assets_name", "data_assets", ["name"])


def downgrade() -> None:
    op.drop_index("ix_data_assets_name", table_name="data_assets")
    op.drop_table("data_assets")
