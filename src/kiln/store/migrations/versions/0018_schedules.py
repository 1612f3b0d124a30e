"""schedules: jobs submitted on a cron or recurrence timetable by the workspace server (kiln.schedules)

Revision ID: 0018
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False, comment="the schedule as created, its job inline"),
        sa.Column("job_type", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True, comment="None: none to come"),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job", sa.String(255), nullable=True),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, comment="run order"),
        sa.Column("schedule", sa.String(255), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, comment="its time on the timetable"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job", sa.String(255), nullable=True, comment="the job it submitted (None: refused)"),
        sa.Column("missed", sa.Integer(), nullable=False, comment="earlier times folded into this run"),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_schedule_runs_schedule", "schedule_runs", ["schedule"])


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
