"""Patients: a folded copy of the name (no case, no tone marks, đ as d) so a search for
"Nguyen Van Binh" finds "Nguyễn Văn Bình" on SQLite and PostgreSQL alike (issue 12, item 2).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from telehealth.accounts.folding import fold

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500


def upgrade() -> None:
    op.add_column("patients", sa.Column("search_name", sa.String(200), nullable=True))
    _backfill()
    # Batch mode: SQLite cannot make a column NOT NULL in place, so the table is copied.
    with op.batch_alter_table("patients") as batch:
        batch.alter_column("search_name", existing_type=sa.String(200), nullable=False)
        batch.create_index("ix_patients_search_name", ["search_name"])


def _backfill() -> None:
    # Folding is Python (unicodedata), the same function the model uses on every write,
    # so rows written before and after this migration fold alike.
    conn = op.get_bind()
    patients = sa.table(
        "patients",
        sa.column("id", sa.String),
        sa.column("full_name", sa.String),
        sa.column("search_name", sa.String),
    )
    rows = conn.execute(sa.select(patients.c.id, patients.c.full_name)).all()
    update = (
        patients.update()
        .where(patients.c.id == sa.bindparam("row_id"))
        .values(search_name=sa.bindparam("folded"))
    )
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        conn.execute(update, [{"row_id": r.id, "folded": fold(r.full_name)} for r in chunk])


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_index("ix_patients_search_name")
        batch.drop_column("search_name")
