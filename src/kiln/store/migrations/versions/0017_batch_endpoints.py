"""batch endpoints and batch deployments (kiln.batch)

Revision ID: 0017
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_endpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False, comment="BatchEndpointSpec"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True, comment="the user who created it"),
    )
    op.create_table(
        "batch_deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False, comment="BatchDeploymentSpec, uploads resolved"),
        sa.Column("model_type", sa.String(32), nullable=False, comment="mlflow_model or custom_model"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True, comment="the user who created it"),
        sa.UniqueConstraint("endpoint", "name", name="uq_batch_deployments_endpoint_name"),
    )
    op.create_index("ix_batch_deployments_endpoint", "batch_deployments", ["endpoint"])


def downgrade() -> None:
    op.drop_table("batch_deployments")
    op.drop_table("batch_endpoints")
