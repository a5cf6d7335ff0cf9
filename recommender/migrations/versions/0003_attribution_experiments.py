"""attribution and experiments: events.request_id, exposures.variant, the experiments table

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_events_request_id", "events", ["request_id"])
    op.add_column("exposures", sa.Column("variant", sa.String(64), nullable=True))
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("variant_version", sa.String(64), nullable=False),
        sa.Column("control_version", sa.String(64)),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_experiments_stopped_at", "experiments", ["stopped_at"])


def downgrade() -> None:
    op.drop_index("ix_experiments_stopped_at", table_name="experiments")
    op.drop_table("experiments")
    with op.batch_alter_table("exposures") as batch:
        batch.drop_column("variant")
    op.drop_index("ix_events_request_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("request_id")
