"""Patients: national id and insurance number unique per home facility, not network-wide,
so registering a patient is no oracle for records at other facilities (issue 10, item 6).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop a constraint in place, so the table is copied.
    with op.batch_alter_table("patients") as batch:
        batch.drop_constraint("uq_patients_national_id", type_="unique")
        batch.drop_constraint("uq_patients_insurance_number", type_="unique")
        batch.create_unique_constraint(
            "uq_patients_home_facility_id_national_id", ["home_facility_id", "national_id"]
        )
        batch.create_unique_constraint(
            "uq_patients_home_facility_id_insurance_number",
            ["home_facility_id", "insurance_number"],
        )
        batch.create_index("ix_patients_national_id", ["national_id"])
        batch.create_index("ix_patients_insurance_number", ["insurance_number"])


def downgrade() -> None:
    # Fails if two facilities hold the same identifier: merge those records first.
    with op.batch_alter_table("patients") as batch:
        batch.drop_index("ix_patients_insurance_number")
        batch.drop_index("ix_patients_national_id")
        batch.drop_constraint("uq_patients_home_facility_id_insurance_number", type_="unique")
        batch.drop_constraint("uq_patients_home_facility_id_national_id", type_="unique")
        batch.create_unique_constraint("uq_patients_insurance_number", ["insurance_number"])
        batch.create_unique_constraint("uq_patients_national_id", ["national_id"])
