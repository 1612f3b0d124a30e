"""users and API tokens; who created each job, data asset, environment, endpoint and deployment

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

CREATED_BY_TABLES = ("jobs", "data_assets", "environments", "online_endpoints", "online_deployments")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False, comment="reader, contributor or owner"),
        sa.Column("description", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True, comment="public id, for listing and revoking"),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, comment="sha256 hex of the token"),
        sa.Column("prefix", sa.String(16), nullable=False, comment="the token's first characters"),
        sa.Column("description", sa.Text()),
        sa.Column("job_id", sa.String(64), comment="set for a job's own token"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_api_tokens_user_name", "api_tokens", ["user_name"])
    op.create_index("ix_api_tokens_job_id", "api_tokens", ["job_id"])
    op.create_index("uq_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    # nullable, no default: rows from before users existed have no creator (and adding them is a cheap ALTER)
    for table in CREATED_BY_TABLES:
        op.add_column(table, sa.Column("created_by", sa.String(128), nullable=True, comment="the user who created it"))


def downgrade() -> None:
    for table in CREATED_BY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("created_by")
    op.drop_table("api_tokens")
    op.drop_table("users")
