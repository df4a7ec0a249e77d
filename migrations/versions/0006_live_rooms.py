"""Live rooms: room times, who is present, the event log, outcomes; every appointment gets
its room.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:30:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("ends_at", TS, nullable=True))
        batch.add_column(sa.Column("live_at", TS, nullable=True))
        batch.add_column(sa.Column("ended_at", TS, nullable=True))
        batch.add_column(sa.Column("emptied_at", TS, nullable=True))
    op.create_table(
        "room_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("peer_id", sa.String(length=40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_room_events_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_events")),
    )
    op.create_index("ix_room_events_room_at", "room_events", ["room_id", "at", "id"])
    op.create_table(
        "room_presence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("peer_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.Column("waiting_since", TS, nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_room_presence_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_presence")),
        sa.UniqueConstraint("room_id", "peer_id", name=op.f("uq_room_presence_room_id_peer_id")),
    )
    op.create_index(op.f("ix_room_presence_node"), "room_presence", ["node"])
    op.create_table(
        "room_outcomes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("diagnosis_code", sa.String(length=10), nullable=False),
        sa.Column("diagnosis_text", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("prescriptions", sa.Text(), nullable=False),
        sa.Column("disposition", sa.String(length=24), nullable=False),
        sa.Column("follow_up", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_room_outcomes_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_room_outcomes_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_outcomes")),
        sa.UniqueConstraint("room_id", "version", name=op.f("uq_room_outcomes_room_id_version")),
        sa.UniqueConstraint(
            "room_id", "idempotency_key", name=op.f("uq_room_outcomes_room_id_idempotency_key")
        ),
    )
    _rooms_for_appointments()


def _rooms_for_appointments() -> None:
    """Appointments booked before this revision get their visit room now."""
    bind = op.get_bind()
    appointments = sa.table(
        "appointments",
        sa.column("id", sa.String),
        sa.column("start_at", TS),
        sa.column("end_at", TS),
        sa.column("room_id", sa.String),
        sa.column("status", sa.String),
    )
    rooms = sa.table(
        "rooms",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("subject_id", sa.String),
        sa.column("mode", sa.String),
        sa.column("state", sa.String),
        sa.column("scheduled_at", TS),
        sa.column("ends_at", TS),
        sa.column("created_at", TS),
        sa.column("updated_at", TS),
    )
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(
            appointments.c.id, appointments.c.start_at, appointments.c.end_at, appointments.c.status
        ).where(appointments.c.room_id.is_(None))
    ).all()
    for appt_id, start, end, status in rows:
        room_id = str(uuid.uuid4())
        active = status in ("booked", "checked_in", "in_progress")
        bind.execute(
            rooms.insert().values(
                id=room_id,
                kind="visit",
                subject_id=appt_id,
                mode="mesh",
                state="scheduled" if active else "ended",
                scheduled_at=start,
                ends_at=end,
                created_at=now,
                updated_at=now,
            )
        )
        bind.execute(
            appointments.update().where(appointments.c.id == appt_id).values(room_id=room_id)
        )


def downgrade() -> None:
    op.drop_table("room_outcomes")
    op.drop_index(op.f("ix_room_presence_node"), table_name="room_presence")
    op.drop_table("room_presence")
    op.drop_index("ix_room_events_room_at", table_name="room_events")
    op.drop_table("room_events")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("emptied_at")
        batch.drop_column("ended_at")
        batch.drop_column("live_at")
        batch.drop_column("ends_at")
