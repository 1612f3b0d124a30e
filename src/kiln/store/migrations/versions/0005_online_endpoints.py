"""online endpoints: endpoints, deployments and the replica processes that serve them

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "online_endpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False, comment="OnlineEndpointSpec, traffic included"),
        sa.Column("primary_key_salt", sa.String(64), nullable=False),
        sa.Column("primary_key_hash", sa.String(64), nullable=False),
        sa.Column("secondary_key_salt", sa.String(64), nullable=False),
        sa.Column("secondary_key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "online_deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False, comment="OnlineDeploymentSpec, uploads resolved"),
        sa.Column("model", sa.JSON(), nullable=False, comment="pinned: registered name+version, or an upload"),
        sa.Column("generation", sa.Integer(), nullable=False, comment="grows with each update"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("take_all_traffic", sa.Boolean(), nullable=False, comment="set traffic to 100 % once ready"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("endpoint", "name", name="uq_online_deployments_endpoint_name"),
    )
    op.create_index("ix_online_deployments_endpoint", "online_deployments", ["endpoint"])
    op.create_table(
        "online_replicas",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("replica_index", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pid_started", sa.Float(), nullable=False, comment="process create time, to tell a reused pid"),
        sa.Column("log_path", sa.String(1024), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_online_replicas_endpoint", "online_replicas", ["endpoint"])


def downgrade() -> None:
    op.drop_index("ix_online_replicas_endpoint", table_name="online_replicas")
    op.drop_table("online_replicas")
    op.drop_index("ix_online_deployments_endpoint", table_name="online_deployments")
    op.drop_table("online_deployments")
    op.drop_table("online_endpoints")
