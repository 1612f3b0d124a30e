"""audit_log: every change to the workspace, who made it, when and from where (append-only)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, comment="the order of changes"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(128), nullable=False, comment="who: the user the request acted as"),
        sa.Column("via", sa.String(128), nullable=False, comment="their credential: a token's id, a job, the studio"),
        sa.Column("action", sa.String(64), nullable=False, comment="the REST operation, e.g. models.set_alias"),
        sa.Column("kind", sa.String(64), nullable=False, comment="the resource kind: model, job, endpoint…"),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False, comment="what else: never a secret"),
        sa.Column("client", sa.String(64), nullable=True, comment="the client's address"),
        sa.Column("user_agent", sa.String(255), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_user", "audit_log", ["user"])
    op.create_index("ix_audit_log_kind", "audit_log", ["kind"])
    op.create_index("ix_audit_log_name", "audit_log", ["name"])


def downgrade() -> None:
    op.drop_table("audit_log")
