"""privacy: a data version's privacy declaration, the privacy budgets and the ledger of charges

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_assets") as batch:
        batch.add_column(
            sa.Column(
                "privacy",
                sa.JSON(),
                nullable=True,
                comment="a private version: {epsilon, delta, metadata} (kiln.privacy)",
            )
        )
    op.create_table(
        "privacy_budgets",
        sa.Column("data_name", sa.String(255), primary_key=True),
        sa.Column("data_version", sa.String(64), primary_key=True),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("spent_epsilon", sa.Float(), nullable=False),
        sa.Column("spent_delta", sa.Float(), nullable=False),
    )
    op.create_table(
        "privacy_charges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, comment="charge order"),
        sa.Column("data_name", sa.String(255), nullable=False),
        sa.Column("data_version", sa.String(64), nullable=False),
        sa.Column("charged_by", sa.String(128), nullable=False),
        sa.Column("charged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, comment="query, synthesis or job"),
        sa.Column(
            "what", sa.Text(), nullable=False, comment="the query's text, the synthesizer and its settings, the job"
        ),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
    )
    op.create_index("ix_privacy_charges_data_name", "privacy_charges", ["data_name"])


def downgrade() -> None:
    op.drop_table("privacy_charges")
    op.drop_table("privacy_budgets")
    with op.batch_alter_table("data_assets") as batch:
        batch.drop_column("privacy")
