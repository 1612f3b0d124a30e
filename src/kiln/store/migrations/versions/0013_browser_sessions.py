"""browser_sessions: the studio's sign-ins and one-time sign-in codes (secrets kept as SHA-256)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("id", sa.String(32), primary_key=True, comment="public id (the cookie's first part)"),
        sa.Column("kind", sa.String(16), nullable=False, comment="session or code"),
        sa.Column("secret_hash", sa.String(64), nullable=False, comment="sha256 hex of the secret"),
        sa.Column("token_id", sa.String(32), nullable=True, comment="None: the workspace token"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_browser_sessions_token_id", "browser_sessions", ["token_id"])
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("browser_sessions")
