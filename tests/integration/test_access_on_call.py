"""The access matrix of the on-call rota: every role against every rota endpoint.

Clinicians and admins read the rota. Admins keep it; the specialist (cardiology, central C0)
keeps only their own shifts. Everyone else is refused at the door; a second cardiologist of
C0 is a stranger to the first one's shifts.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.db.base import utcnow
from tests.integration.test_access import ANON, EVERYONE
from tests.support.network import PASSWORD, SEED, Network
from tests.support.scheduling import practitioner_id

ALL = (*EVERYONE, ANON)
ROTA = "/api/v1/on-call"
ENDPOINTS = {
    ("GET", ROTA),
    ("GET", ROTA + "/now"),
    ("POST", ROTA),
    ("DELETE", ROTA + "/{shift_id}"),
}
READERS = {"admin": 200, "doctor_a": 200, "doctor_b": 200, "specialist": 200}
_days = itertools.count(1)


def _expect(allowed: dict[str, int], refused: int = 403) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else refused) for who in ALL}


async def _status(net: Network, who: str, method: str, url: str, body: Any = None) -> int:
    headers = {} if who == ANON else await net.headers(who)
    resp = await net.client.request(method, url, json=body, headers=headers)
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json"
    return resp.status


async def _body(net: Network, practitioner: str | None = None) -> dict[str, Any]:
    """A shift of its own day, so no two calls overlap."""
    start = utcnow() + timedelta(days=next(_days))
    return {
        "specialty": "cardiology",
        "facility_id": net.facilities["C0"],
        "practitioner_id": practitioner or await practitioner_id(net, "specialist"),
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=8)).isoformat(),
    }


async def _shift(net: Network, practitioner: str | None = None) -> str:
    resp = await net.client.post(
        ROTA, json=await _body(net, practitioner), headers=await net.headers("admin")
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_clinicians_and_admins_read_the_rota(network: Network) -> None:
    await _shift(network)
    for path in (ROTA, ROTA + "/now"):
        seen = {who: await _status(network, who, "GET", path) for who in ALL}
        assert seen == _expect(READERS), path


async def test_admins_and_the_specialist_themself_put_them_on_call(network: Network) -> None:
    outcome = {who: await _status(network, who, "POST", ROTA, await _body(network)) for who in ALL}
    assert outcome == _expect({"admin": 201, "specialist": 201})


async def test_admins_and_the_specialist_themself_take_their_shift_off(network: Network) -> None:
    outcome = {}
    for who in ALL:
        shift_id = await _shift(network)
        outcome[who] = await _status(network, who, "DELETE", f"{ROTA}/{shift_id}")
    assert outcome == _expect({"admin": 204, "specialist": 204})


async def test_a_fellow_specialist_is_a_stranger_to_the_shifts_of_another(
    network: Network,
) -> None:
    await network.client.app[keys.ACCOUNTS].create_user(
        SEED,
        s.UserCreate(
            username="bs.khac",
            password=PASSWORD,
            full_name="Bác sĩ Khác",
            roles=[Role.SPECIALIST],
            facility_id=network.facilities["C0"],
            specialties=["cardiology"],
        ),
    )
    theirs = await _shift(network)
    assert await _status(network, "bs.khac", "DELETE", f"{ROTA}/{theirs}") == 403
    assert await _status(network, "bs.khac", "POST", ROTA, await _body(network)) == 403
    missing = f"{ROTA}/00000000-0000-4000-8000-000000000000"
    assert await _status(network, "bs.khac", "DELETE", missing) == 404
    # The refused calls changed nothing: the shift is still there for its owner to remove.
    assert await _status(network, "specialist", "DELETE", f"{ROTA}/{theirs}") == 204
