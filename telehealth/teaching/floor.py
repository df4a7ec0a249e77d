"""The floor of a teaching room: the presenter (the room's host) always sends media;
trainees watch until the presenter gives them the floor, and stop when it is taken back.

The floor is kept in the room's event log (`floor` events: who gave or took it from
whom), so every node reads the same answer and the log shows who spoke. It outlasts a
reconnect; the presenter takes it back explicitly.

`may_publish` is the one place the relay asks whether a connection may send media.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.db.uow import UnitOfWork
from telehealth.errors import Forbidden, NotFound, Unprocessable
from telehealth.rooms.models import RoomKind
from telehealth.rooms.parties import PeerRole
from telehealth.rooms.repository import RoomRepository
from telehealth.teaching.repository import TeachingRepository

if TYPE_CHECKING:
    from telehealth.rooms.live import Connection

__all__ = ["change_floor", "may_publish", "publishes"]


def publishes(kind: str, role: PeerRole, has_floor: bool) -> bool:
    """The rule: in teaching rooms the presenter always, a trainee only with the floor;
    in other rooms every admitted party."""
    if kind != RoomKind.TEACHING.value or role is PeerRole.HOST:
        return True
    return has_floor


async def may_publish(sessionmaker: async_sessionmaker[AsyncSession], conn: Connection) -> bool:
    """Whether this admitted connection may send its audio and video to the room now."""
    if not (conn.joined and conn.admitted):
        return False
    if conn.role is PeerRole.HOST:
        return True
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        room = await RoomRepository(uow.session).room(conn.room_id)
        if room is None:
            return False
        kind = room.kind  # read inside: leaving the unit of work expires the row
        if kind != RoomKind.TEACHING.value:
            return True
        held = await TeachingRepository(uow.session).has_floor(room.id, conn.peer_id)
    return publishes(kind, conn.role, held)


async def change_floor(
    sessionmaker: async_sessionmaker[AsyncSession], conn: Connection, peer_id: str, give: bool
) -> dict[str, Any]:
    """The presenter gives (`give`) or takes the floor of one trainee in the room; logged.
    Returns what the room is told."""
    conn.require_admitted()
    async with UnitOfWork(sessionmaker) as uow:
        repo = RoomRepository(uow.session)
        room = await repo.room(conn.room_id)
        if room is None or room.kind != RoomKind.TEACHING.value:
            raise Unprocessable("Only teaching rooms have a floor to give.")
        if conn.role is not PeerRole.HOST:
            raise Forbidden("Only the presenter gives and takes the floor.")
        target = await repo.present(room.id, peer_id)
        if target is None or not target.admitted or target.role == PeerRole.HOST.value:
            raise NotFound("No trainee with that peer id is in the room.")
        repo.log(room.id, "floor", target.user_id, peer_id, granted=give, by=conn.peer_id)
        await uow.commit()
    return {"peer_id": peer_id, "granted": give, "by": conn.peer_id}
