"""Audit: keep a client's X-Request-ID beside the server's own request id, never as it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 17:10:00.000000

Rechained onto 0006 when merged (0006 lands on another branch).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("client_request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("client_request_id")
