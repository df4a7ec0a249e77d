"""Teaching sessions: the session, the facilities invited to it and trainees' enrolments.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teaching_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("trainer_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["trainer_id"], ["users.id"], name=op.f("fk_teaching_sessions_trainer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_sessions")),
    )
    op.create_index(op.f("ix_teaching_sessions_trainer_id"), "teaching_sessions", ["trainer_id"])
    op.create_index(op.f("ix_teaching_sessions_starts_at"), "teaching_sessions", ["starts_at"])
    op.create_table(
        "teaching_invites",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("facility_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_teaching_invites_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["teaching_sessions.id"],
            name=op.f("fk_teaching_invites_session_id_teaching_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_invites")),
        sa.UniqueConstraint(
            "session_id", "facility_id", name=op.f("uq_teaching_invites_session_id_facility_id")
        ),
    )
    op.create_index(op.f("ix_teaching_invites_session_id"), "teaching_invites", ["session_id"])
    op.create_index(op.f("ix_teaching_invites_facility_id"), "teaching_invites", ["facility_id"])
    op.create_table(
        "teaching_enrolments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("trainee_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("enrolled_at", WHEN, nullable=False),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["teaching_sessions.id"],
            name=op.f("fk_teaching_enrolments_session_id_teaching_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trainee_id"], ["users.id"], name=op.f("fk_teaching_enrolments_trainee_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teaching_enrolments")),
        sa.UniqueConstraint(
            "session_id", "trainee_id", name=op.f("uq_teaching_enrolments_session_id_trainee_id")
        ),
    )
    op.create_index(
        op.f("ix_teaching_enrolments_session_id"), "teaching_enrolments", ["session_id"]
    )
    op.create_index(
        op.f("ix_teaching_enrolments_trainee_id"), "teaching_enrolments", ["trainee_id"]
    )


def downgrade() -> None:
    op.drop_table("teaching_enrolments")
    op.drop_table("teaching_invites")
    op.drop_table("teaching_sessions")
