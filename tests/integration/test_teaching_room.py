"""A teaching room with real Socket.IO clients: trainees are in directly as viewers, only
the presenter gives and takes the floor (the room hears it, the log keeps it, and the
relay's `may_publish` follows it); attendance, its CSV and certificates from the log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.db.base import utcnow
from telehealth.rooms.live import Connection
from telehealth.rooms.models import RoomEvent
from telehealth.rooms.parties import PeerRole
from telehealth.teaching.models import TeachingSession
from tests.support.network import Network
from tests.support.pages import browse_as, page, with_every_token
from tests.support.rtc import book_visit, connected
from tests.support.teaching import add_user, schedule_session

BASE = "/api/v1/teaching-sessions"


async def _enrolled_session(net: Network, *trainees: str) -> dict[str, Any]:
    session = await schedule_session(net, starts_in=timedelta(minutes=5))
    for name in trainees:
        resp = await net.client.post(
            f"{BASE}/{session['id']}/enrol", headers=await net.headers(name)
        )
        assert resp.status == 201, await resp.text()
    return session


def _server_side(net: Network, grant: dict[str, Any], role: PeerRole) -> Connection:
    """The connection as the relay sees it once joined and admitted."""
    claims = net.client.app[keys.ROOMS].tokens.verify(grant["token"], utcnow())
    return Connection("sid", claims, "x", role, joined=True, admitted=True)


async def test_the_presenter_gives_and_takes_the_floor(network: Network) -> None:
    await add_user(network, "trainee_two", Role.TRAINEE, "D1")
    session = await _enrolled_session(network, "trainee", "trainee_two")
    room_id = session["room_id"]
    live = network.client.app[keys.LIVE_ROOMS]
    presenter, p_grant = await connected(network, "trainer", room_id)
    trainee, t_grant = await connected(network, "trainee", room_id)
    other, _ = await connected(network, "trainee_two", room_id)
    clients = (presenter, trainee, other)
    try:
        await presenter.ok("join")
        for client in (trainee, other):
            joined = await client.ok("join")
            assert (joined["admitted"], joined["role"], joined["mode"]) == (
                True,
                "participant",
                "relay",
            )
        viewer = _server_side(network, t_grant, PeerRole.PARTICIPANT)
        assert await live.may_publish(_server_side(network, p_grant, PeerRole.HOST))
        assert not await live.may_publish(viewer)
        # A trainee raises a hand; only the presenter may give the floor.
        await trainee.ok("hand", {"raised": True})
        assert (await presenter.next("hand"))["peer_id"] == t_grant["peer_id"]
        refused = await trainee.call("floor", {"peer_id": t_grant["peer_id"], "give": True})
        assert refused["error"]["code"] == "forbidden"
        await presenter.ok("floor", {"peer_id": t_grant["peer_id"], "give": True})
        for client in clients:
            told = await client.next("floor")
            assert told == {
                "peer_id": t_grant["peer_id"],
                "granted": True,
                "by": p_grant["peer_id"],
            }
        assert await live.may_publish(viewer)
        await presenter.ok("floor", {"peer_id": t_grant["peer_id"], "give": False})
        assert (await other.next("floor"))["granted"] is False
        assert not await live.may_publish(viewer)
        # Nobody of that id; the presenter; bad payloads.
        missing = await presenter.call("floor", {"peer_id": "pnobody", "give": True})
        assert missing["error"]["code"] == "not_found"
        itself = await presenter.call("floor", {"peer_id": p_grant["peer_id"], "give": True})
        assert itself["error"]["code"] == "not_found"
        for bad in (None, {}, {"peer_id": t_grant["peer_id"]}, {"peer_id": "x", "give": "yes"}):
            answer = await presenter.call("floor", bad)
            assert answer["error"]["code"] == "validation_error", bad
        events = await network.client.get(
            f"/api/v1/rooms/{room_id}/events", headers=await network.headers("trainer")
        )
        floor = [e for e in (await events.json())["items"] if e["kind"] == "floor"]
        assert [e["details"]["granted"] for e in floor] == [True, False]
    finally:
        for client in clients:
            await client.close()


async def test_a_visit_room_has_no_floor(network: Network) -> None:
    appt = await book_visit(network)
    host, _ = await connected(network, "doctor_a", appt["room_id"])
    try:
        await host.ok("join")
        answer = await host.call("floor", {"peer_id": "pabc", "give": True})
        assert answer["error"]["code"] == "unprocessable"
    finally:
        await host.close()


async def test_attendance_lists_who_was_in_the_room(network: Network) -> None:
    session = await _enrolled_session(network, "trainee")
    sid = session["id"]
    presenter, _ = await connected(network, "trainer", session["room_id"])
    trainee, _ = await connected(network, "trainee", session["room_id"])
    try:
        await presenter.ok("join")
        await trainee.ok("join")
        await trainee.ok("leave")
    finally:
        await trainee.close()
        await presenter.close()
    resp = await network.client.get(
        f"{BASE}/{sid}/attendance", headers=await network.headers("trainer")
    )
    register = await resp.json()
    assert resp.status == 200
    rows = {a["user_id"]: a for a in register["items"]}
    assert [a["role"] for a in register["items"]] == ["trainer", "trainee"]
    mine = rows[network.users["trainee"]]
    assert mine["first_joined"] < mine["last_left"]  # same format: ISO text orders by time
    assert 0 <= mine["minutes"] < 1
    assert (mine["share"], mine["certified"]) == (0, False)  # before the session's start
    csv = await network.client.get(
        f"{BASE}/{sid}/attendance.csv", headers=await network.headers("trainer")
    )
    assert csv.status == 200
    assert csv.content_type == "text/csv"
    lines = (await csv.text()).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("user_id,full_name")


async def _past_session_with_log(net: Network, minutes_in: dict[str, float]) -> dict[str, Any]:
    """A session that ran an hour ago, whose room's log shows each trainee present for
    the given minutes from its start (written as the live service writes them)."""
    session = await _enrolled_session(net, *minutes_in)
    start = utcnow() - timedelta(hours=2)
    async with net.client.app[keys.SESSIONMAKER]() as db:
        await db.execute(
            update(TeachingSession)
            .where(TeachingSession.id == session["id"])
            .values(starts_at=start, ends_at=start + timedelta(hours=1))
        )
        for name, minutes in minutes_in.items():
            user, peer = net.users[name], f"p{name}"
            db.add_all(
                [
                    RoomEvent(
                        room_id=session["room_id"],
                        kind="joined",
                        actor_id=user,
                        peer_id=peer,
                        details={"connection": "c"},
                        at=start,
                    ),
                    RoomEvent(
                        room_id=session["room_id"],
                        kind="left",
                        actor_id=user,
                        peer_id=peer,
                        details={"reason": "left"},
                        at=start + timedelta(minutes=minutes),
                    ),
                ]
            )
        await db.commit()
    return session


async def test_a_certificate_needs_the_configured_share(network: Network) -> None:
    await add_user(network, "trainee_late", Role.TRAINEE, "D1")
    session = await _past_session_with_log(network, {"trainee": 54, "trainee_late": 30})
    sid = session["id"]
    resp = await network.client.get(
        f"{BASE}/{sid}/attendance", headers=await network.headers("trainer")
    )
    rows = {a["user_id"]: a for a in (await resp.json())["items"]}
    good, late = rows[network.users["trainee"]], rows[network.users["trainee_late"]]
    assert (good["minutes"], good["share"], good["certified"]) == (54.0, 0.9, True)
    assert (late["minutes"], late["share"], late["certified"]) == (30.0, 0.5, False)


async def test_the_certificate_page_is_for_a_trainee_who_attended_enough(
    network: Network,
) -> None:
    await add_user(network, "trainee_late", Role.TRAINEE, "D1")
    session = await _past_session_with_log(network, {"trainee": 50, "trainee_late": 20})
    await with_every_token(network)
    path = f"/teaching/{session['id']}/certificate"
    await browse_as(network, "trainee")
    html = await page(network, path)
    assert "Giấy chứng nhận tham dự" in html
    assert "Trainee" in html
    assert "50.0" in html
    await browse_as(network, "trainee_late")
    await page(network, path, status=404)
    await browse_as(network, "trainer")
    await page(network, path, status=403)  # trainers hold no certificate of their own
