"""components: versioned command components (kiln.pipelines), their code pinned by hash

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "components",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, comment="creation order"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False, comment="the component as created, code as upload:<hash>"),
        sa.Column("code_hash", sa.String(64), nullable=True, comment="its code snapshot's content hash"),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True, comment="the user who created it"),
        sa.UniqueConstraint("name", "version", name="uq_components_name_version"),
    )
    op.create_index("ix_components_name", "components", ["name"])


def downgrade() -> None:
    op.drop_table("components")
