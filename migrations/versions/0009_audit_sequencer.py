"""Audit: rows are inserted unchained and chained by one sequencer (no lock per request).

The primary key moves from `seq` to `id`; `seq`, `prev_hash` and `hash` may be empty until
the sequencer fills them in; a partial index finds the rows still waiting, and a one-row
lease names the node that chains. Chained rows keep their place and their hash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UNCHAINED = sa.text("seq IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint("pk_audit_events", type_="primary")
        batch.drop_constraint("uq_audit_events_id", type_="unique")
        batch.create_primary_key("pk_audit_events", ["id"])
        batch.alter_column("seq", existing_type=_SEQ, nullable=True)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
        batch.create_unique_constraint("uq_audit_events_seq", ["seq"])
    op.create_index(
        "ix_audit_events_unchained",
        "audit_events",
        ["at"],
        sqlite_where=_UNCHAINED,
        postgresql_where=_UNCHAINED,
    )
    op.create_table(
        "audit_sequencer_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_sequencer_lease")),
    )


def downgrade() -> None:
    op.drop_table("audit_sequencer_lease")
    op.drop_index("ix_audit_events_unchained", table_name="audit_events")
    # Rows never chained have no place in the old schema, and audit rows are never dropped.
    waiting = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_events WHERE seq IS NULL"))
    if waiting:
        raise RuntimeError(
            f"{waiting} audit events are not chained yet: run `telehealth audit chain` first"
        )
    with op.batch_alter_table("audit_events", recreate="auto") as batch:
        batch.drop_constraint("uq_audit_events_seq", type_="unique")
        batch.drop_constraint("pk_audit_events", type_="primary")
        batch.alter_column("seq", existing_type=_SEQ, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_primary_key("pk_audit_events", ["seq"])
        batch.create_unique_constraint("uq_audit_events_id", ["id"])
