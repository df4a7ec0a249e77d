"""Appointments: who will sit with the patient at a visit booked on their behalf
(issue 12, item 3).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("appointments", sa.Column("companion", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("companion")
