"""Consults: requests, assignees, amendments, timeline, messages, opinions, attachments,
the on-call rota.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:35:34.883810
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consult_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("requester_id", sa.String(length=36), nullable=False),
        sa.Column("requesting_facility_id", sa.String(length=36), nullable=False),
        sa.Column("specialty_code", sa.String(length=32), nullable=False),
        sa.Column("target_facility_id", sa.String(length=36), nullable=True),
        sa.Column("target_practitioner_id", sa.String(length=36), nullable=True),
        sa.Column("urgency", sa.String(length=12), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("patient_present", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("room_id", sa.String(length=36), nullable=True),
        sa.Column("session_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_consult_requests_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("fk_consult_requests_requester_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requesting_facility_id"],
            ["facilities.id"],
            name=op.f("fk_consult_requests_requesting_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["specialty_code"],
            ["specialties.code"],
            name=op.f("fk_consult_requests_specialty_code_specialties"),
        ),
        sa.ForeignKeyConstraint(
            ["target_facility_id"],
            ["facilities.id"],
            name=op.f("fk_consult_requests_target_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["target_practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_consult_requests_target_practitioner_id_practitioners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_requests")),
    )
    with op.batch_alter_table("consult_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_requests_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ix_consult_requests_queue", ["specialty_code", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consult_requests_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consult_requests_requesting_facility_id"),
            ["requesting_facility_id"],
            unique=False,
        )

    op.create_table(
        "on_call_shifts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("specialty_code", sa.String(length=32), nullable=False),
        sa.Column("facility_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_on_call_shifts_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_on_call_shifts_practitioner_id_practitioners"),
        ),
        sa.ForeignKeyConstraint(
            ["specialty_code"],
            ["specialties.code"],
            name=op.f("fk_on_call_shifts_specialty_code_specialties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_shifts")),
    )
    with op.batch_alter_table("on_call_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_on_call_shifts_lookup", ["specialty_code", "start_at", "end_at"], unique=False
        )

    op.create_table(
        "consult_amendments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_consult_amendments_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_amendments_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_amendments")),
        sa.UniqueConstraint(
            "consult_id", "version", name=op.f("uq_consult_amendments_consult_id_version")
        ),
    )
    with op.batch_alter_table("consult_amendments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_amendments_consult_id"), ["consult_id"], unique=False
        )

    op.create_table(
        "consult_assignees",
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=36), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_assignees_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_consult_assignees_practitioner_id_practitioners"),
        ),
        sa.PrimaryKeyConstraint("consult_id", "practitioner_id", name=op.f("pk_consult_assignees")),
    )
    op.create_table(
        "consult_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("uploader_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("preview_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_attachments_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"], ["users.id"], name=op.f("fk_consult_attachments_uploader_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_attachments")),
    )
    with op.batch_alter_table("consult_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_attachments_consult_id"), ["consult_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consult_attachments_sha256"), ["sha256"], unique=False)

    op.create_table(
        "consult_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_consult_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_events_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_events")),
    )
    with op.batch_alter_table("consult_events", schema=None) as batch_op:
        batch_op.create_index("ix_consult_events_consult_at", ["consult_id", "at"], unique=False)

    op.create_table(
        "consult_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_consult_messages_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_messages_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_messages")),
    )
    with op.batch_alter_table("consult_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_messages_consult_id"), ["consult_id"], unique=False
        )

    op.create_table(
        "consult_opinions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("recommendations", sa.Text(), nullable=False),
        sa.Column("recommended_tests", sa.Text(), nullable=True),
        sa.Column("recommended_treatment", sa.Text(), nullable=True),
        sa.Column("disposition", sa.String(length=24), nullable=False),
        sa.Column("transfer_facility_id", sa.String(length=36), nullable=True),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_consult_opinions_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["consult_requests.id"],
            name=op.f("fk_consult_opinions_consult_id_consult_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_facility_id"],
            ["facilities.id"],
            name=op.f("fk_consult_opinions_transfer_facility_id_facilities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_opinions")),
        sa.UniqueConstraint(
            "consult_id", "version", name=op.f("uq_consult_opinions_consult_id_version")
        ),
    )
    with op.batch_alter_table("consult_opinions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_opinions_consult_id"), ["consult_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consult_opinions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_opinions_consult_id"))

    op.drop_table("consult_opinions")
    with op.batch_alter_table("consult_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_messages_consult_id"))

    op.drop_table("consult_messages")
    with op.batch_alter_table("consult_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consult_events_consult_at")

    op.drop_table("consult_events")
    with op.batch_alter_table("consult_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_attachments_sha256"))
        batch_op.drop_index(batch_op.f("ix_consult_attachments_consult_id"))

    op.drop_table("consult_attachments")
    op.drop_table("consult_assignees")
    with op.batch_alter_table("consult_amendments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_amendments_consult_id"))

    op.drop_table("consult_amendments")
    with op.batch_alter_table("on_call_shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_on_call_shifts_lookup")

    op.drop_table("on_call_shifts")
    with op.batch_alter_table("consult_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_requests_requesting_facility_id"))
        batch_op.drop_index(batch_op.f("ix_consult_requests_requester_id"))
        batch_op.drop_index("ix_consult_requests_queue")
        batch_op.drop_index(batch_op.f("ix_consult_requests_patient_id"))

    op.drop_table("consult_requests")
