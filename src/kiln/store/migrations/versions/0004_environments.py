"""environments: registered environment versions

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("image", sa.String(1024)),
        sa.Column("spec", sa.JSON(), nullable=False, comment="the spec as sent, files inline"),
        sa.Column("hash", sa.String(64), nullable=False, comment="names the venv in the cache"),
        sa.Column("python", sa.String(32), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lock", sa.JSON(), nullable=False, comment="uv pip freeze of the built venv"),
        sa.Column("build_log", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("name", "version", name="uq_environments_name_version"),
    )
    op.create_index("ix_environments_name", "environments", ["name"])
    op.create_index("ix_environments_hash", "environments", ["hash"])


def downgrade() -> None:
    op.drop_index("ix_environments_hash", table_name="environments")
    op.drop_index("ix_environments_name", table_name="environments")
    op.drop_table("environments")
