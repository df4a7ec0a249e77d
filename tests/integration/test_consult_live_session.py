"""A consult's live session around its relay room: the consult page links the parties to
the call page once the room is open, the timeline records who joined and for how long
(from the room's log), and an opinion signed after the session links to its room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telehealth.db.base import utcnow
from tests.support.consults import act, file_consult
from tests.support.network import Network
from tests.support.pages import browse_as, page, with_every_token
from tests.support.rtc import connected

OPINION = {
    "assessment": "Nghi cơn đau thắt ngực không ổn định.",
    "recommendations": "Chuyển tuyến trung ương trong 24 giờ.",
    "disposition": "manage_locally",
}


async def _scheduled(net: Network, starts_in: timedelta) -> dict[str, Any]:
    consult = await file_consult(net)
    assert (await act(net, "specialist", consult["id"], "accept")).status == 200
    start = (utcnow() + starts_in).isoformat()
    resp = await act(net, "specialist", consult["id"], "schedule", {"start": start})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def _get(net: Network, who: str, path: str) -> Any:
    resp = await net.client.get(path, headers=await net.headers(who))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_the_consult_page_links_the_parties_to_an_open_session(network: Network) -> None:
    await with_every_token(network)
    soon = await _scheduled(network, timedelta(minutes=10))
    later = await _scheduled(network, timedelta(hours=5))
    for who in ("doctor_a", "specialist"):
        await browse_as(network, who)
        html = await page(network, f"/consults/{soon['id']}")
        assert f'href="/rooms/{soon["room_id"]}"' in html
        # A room that opens only later: no link yet.
        assert "/rooms/" not in await page(network, f"/consults/{later['id']}")


async def test_the_timeline_records_the_session_and_the_opinion_links_to_it(
    network: Network,
) -> None:
    consult = await _scheduled(network, timedelta(minutes=10))
    cid, room_id = consult["id"], consult["room_id"]
    base = f"/api/v1/consults/{cid}"
    before = await _get(network, "doctor_a", base + "/timeline")
    assert "session_held" not in [e["kind"] for e in before["items"]]
    # Signed before any session: no link.
    assert (await act(network, "specialist", cid, "opinion", OPINION)).status == 200
    specialist, _ = await connected(network, "specialist", room_id)
    doctor, _ = await connected(network, "doctor_a", room_id)
    try:
        await specialist.ok("join")
        joined = await doctor.ok("join")
        assert (joined["admitted"], joined["state"]) == (True, "live")
        await doctor.ok("leave")
    finally:
        await doctor.close()
        await specialist.close()
    timeline = await _get(network, "specialist", base + "/timeline")
    held = [e for e in timeline["items"] if e["kind"] == "session_held"]
    assert len(held) == 1
    attendees = {a["user_id"]: a for a in held[0]["data"]["attendees"]}
    assert set(attendees) == {network.users["doctor_a"], network.users["specialist"]}
    assert attendees[network.users["doctor_a"]]["full_name"] == "Doctor A"
    assert all(a["minutes"] >= 0 for a in attendees.values())
    assert held[0]["data"]["room_id"] == room_id
    # Amended after the session: the new version links to the room, the first does not.
    amended = {**OPINION, "amendment_reason": "Đã hội chẩn trực tuyến."}
    resp = await act(network, "specialist", cid, "opinion", amended)
    assert resp.status == 200, await resp.text()
    opinions = await _get(network, "doctor_a", base + "/opinions")
    links = {o["version"]: o["session_room_id"] for o in opinions}
    assert links == {1: None, 2: room_id}
    await with_every_token(network)
    await browse_as(network, "doctor_a")
    html = await page(network, f"/consults/{cid}")
    assert f'data-session-room="{room_id}"' in html
    assert "Doctor A" in html
