"""Consult attachments: a small thumbnail (JPEG, at most 192 px a side) for the lists,
so a 96-px box no longer downloads the original (issue 12, item 9).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consult_attachments") as batch:
        batch.add_column(sa.Column("thumbnail_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # The thumbnail files stay in the store; `telehealth attachments check` names them.
    with op.batch_alter_table("consult_attachments") as batch:
        batch.drop_column("thumbnail_sha256")
