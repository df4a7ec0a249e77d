"""Consults: index the specialist a request is named to, so the queue query uses indexes
on both sides of its OR instead of reading every consult ever filed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_consult_requests_target_practitioner_id"),
        "consult_requests",
        ["target_practitioner_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consult_requests_target_practitioner_id"), table_name="consult_requests")
