"""The floor rule: in a teaching room the presenter always sends media, a trainee only
with the floor; in the other rooms every admitted party does."""

from __future__ import annotations

import pytest

from telehealth.rooms.models import RoomKind
from telehealth.rooms.parties import PeerRole
from telehealth.teaching.floor import publishes


@pytest.mark.parametrize("has_floor", [True, False])
def test_the_presenter_always_publishes(has_floor: bool) -> None:
    assert publishes(RoomKind.TEACHING.value, PeerRole.HOST, has_floor)


def test_a_trainee_publishes_only_with_the_floor() -> None:
    assert publishes(RoomKind.TEACHING.value, PeerRole.PARTICIPANT, True)
    assert not publishes(RoomKind.TEACHING.value, PeerRole.PARTICIPANT, False)


@pytest.mark.parametrize("kind", [RoomKind.CONSULT, RoomKind.VISIT])
@pytest.mark.parametrize("role", list(PeerRole))
def test_other_rooms_have_no_floor(kind: RoomKind, role: PeerRole) -> None:
    assert publishes(kind.value, role, False)
