"""The on-call rota: the API, its rules with their codes, the admin page, and the deadline
watch telling the specialist the rota names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import select

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.auth.models import AuditEvent
from telehealth.consults.models import OnCallShift
from telehealth.consults.service import ConsultService
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.consults import add_provincial_hospital, add_specialist, file_consult
from tests.support.network import PASSWORD, SEED, Network
from tests.support.scheduling import practitioner_id

ROTA = "/api/v1/on-call"
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def shift_body(net: Network, start: datetime, hours: float = 12, **extra: Any) -> Any:
    """The network's cardiologist on call at the central hospital from `start`."""
    return {
        "specialty": "cardiology",
        "facility_id": net.facilities["C0"],
        "practitioner_id": await practitioner_id(net, "specialist"),
        "start_at": iso(start),
        "end_at": iso(start + timedelta(hours=hours)),
        **extra,
    }


async def post_shift(net: Network, body: Any, who: str = "admin") -> ClientResponse:
    return await net.client.post(ROTA, json=body, headers=await net.headers(who))


async def add_shift(net: Network, body: Any, who: str = "admin") -> dict[str, Any]:
    resp = await post_shift(net, body, who)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def problem_code(resp: ClientResponse, status: int) -> str:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/problem+json", text
    return str((await resp.json())["code"])


async def audit_actions(net: Network, shift_id: str) -> list[tuple[str, str | None]]:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == shift_id).order_by(AuditEvent.at)
        )
        return [(e.action, e.actor_id) for e in rows.all()]


# --- the API -------------------------------------------------------------------------------


async def test_admin_puts_a_specialist_on_call_and_clinicians_read_the_rota(
    network: Network,
) -> None:
    start = utcnow().replace(microsecond=0) + timedelta(hours=2)
    shift = await add_shift(network, await shift_body(network, start))
    assert shift["specialty"] == "cardiology"
    assert shift["facility"]["id"] == network.facilities["C0"]
    assert shift["practitioner"]["full_name"] == "Specialist"
    assert datetime.fromisoformat(shift["start_at"]) == start
    later = await add_shift(network, await shift_body(network, start + timedelta(days=10)))

    for reader in ("doctor_b", "specialist", "admin"):
        resp = await network.client.get(ROTA, headers=await network.headers(reader))
        assert resp.status == 200, await resp.text()
        # The default window is the next 7 days: the shift in 10 days is not in it.
        assert [i["id"] for i in (await resp.json())["items"]] == [shift["id"]]

    query = {"from": iso(start + timedelta(days=9)), "to": iso(start + timedelta(days=12))}
    resp = await network.client.get(ROTA, params=query, headers=await network.headers("doctor_a"))
    assert [i["id"] for i in (await resp.json())["items"]] == [later["id"]]
    for params, found in [
        ({"specialty": "paediatrics"}, []),
        ({"facility_id": network.facilities["D1"]}, []),
        ({"specialty": "cardiology", "facility_id": network.facilities["C0"]}, [shift["id"]]),
    ]:
        resp = await network.client.get(ROTA, params=params, headers=await network.headers("admin"))
        assert [i["id"] for i in (await resp.json())["items"]] == found, params


async def test_the_rota_is_ordered_by_start_and_paged(network: Network) -> None:
    start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    ids = [
        (await add_shift(network, await shift_body(network, start + timedelta(hours=h), 6)))["id"]
        for h in (24, 0, 12)
    ]
    headers = await network.headers("doctor_a")
    first = await (await network.client.get(ROTA + "?limit=2", headers=headers)).json()
    assert first["next"]
    rest = await (
        await network.client.get(
            ROTA, params={"limit": "2", "cursor": first["next"]}, headers=headers
        )
    ).json()
    assert rest["next"] is None
    assert [i["id"] for i in first["items"] + rest["items"]] == [ids[1], ids[2], ids[0]]


async def test_who_is_on_call_now_per_hospital(network: Network) -> None:
    now = utcnow()
    await add_provincial_hospital(network)
    other = await add_specialist(network, "bs.tinh", "P1", ["cardiology"])
    here = await add_shift(network, await shift_body(network, now - timedelta(hours=1)))
    there = await add_shift(
        network,
        await shift_body(
            network,
            now - timedelta(hours=2),
            facility_id=network.facilities["P1"],
            practitioner_id=other,
        ),
    )
    await add_shift(network, await shift_body(network, now + timedelta(hours=12)))  # not yet
    resp = await network.client.get(
        ROTA + "/now?specialty=cardiology", headers=await network.headers("doctor_a")
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    groups = {g["facility"]["code"]: [x["id"] for x in g["shifts"]] for g in body["items"]}
    assert groups == {"C0": [here["id"]], "P1": [there["id"]]}
    assert {g["specialty"] for g in body["items"]} == {"cardiology"}
    nobody = await network.client.get(
        ROTA + "/now?specialty=paediatrics", headers=await network.headers("specialist")
    )
    assert (await nobody.json())["items"] == []


async def test_a_specialist_keeps_only_their_own_shifts_at_their_own_hospital(
    network: Network,
) -> None:
    colleague = await add_specialist(network, "bs.lan", "C0", ["cardiology"])
    start = utcnow() + timedelta(hours=3)
    own = await add_shift(network, await shift_body(network, start), who="specialist")
    for_someone_else = await post_shift(
        network, await shift_body(network, start, practitioner_id=colleague), who="specialist"
    )
    assert await problem_code(for_someone_else, 403) == "forbidden"
    await add_provincial_hospital(network)
    elsewhere = await post_shift(
        network,
        await shift_body(network, start, facility_id=network.facilities["P1"]),
        who="specialist",
    )
    assert await problem_code(elsewhere, 403) == "forbidden"

    theirs = await add_shift(network, await shift_body(network, start, practitioner_id=colleague))
    refused = await network.client.delete(
        f"{ROTA}/{theirs['id']}", headers=await network.headers("specialist")
    )
    assert await problem_code(refused, 403) == "forbidden"
    removed = await network.client.delete(
        f"{ROTA}/{own['id']}", headers=await network.headers("specialist")
    )
    assert removed.status == 204
    assert await audit_actions(network, own["id"]) == [
        ("on_call.create", network.users["specialist"]),
        ("on_call.delete", network.users["specialist"]),
    ]


async def test_each_write_is_audited_and_a_removed_shift_is_gone(network: Network) -> None:
    shift = await add_shift(network, await shift_body(network, utcnow() + timedelta(hours=1)))
    headers = await network.headers("admin")
    assert (await network.client.delete(f"{ROTA}/{shift['id']}", headers=headers)).status == 204
    again = await network.client.delete(f"{ROTA}/{shift['id']}", headers=headers)
    assert await problem_code(again, 404) == "not_found"
    listed = await (await network.client.get(ROTA, headers=headers)).json()
    assert listed["items"] == []
    admin = network.users["admin"]
    assert await audit_actions(network, shift["id"]) == [
        ("on_call.create", admin),
        ("on_call.delete", admin),
    ]


async def test_a_shift_that_has_ended_stays_on_the_record(network: Network) -> None:
    now = utcnow()
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        past = OnCallShift(
            specialty_code="cardiology",
            facility_id=network.facilities["C0"],
            practitioner_id=await practitioner_id(network, "specialist"),
            start_at=now - timedelta(days=2),
            end_at=now - timedelta(days=1),
        )
        uow.session.add(past)
        await uow.commit()
        past_id = past.id
    resp = await network.client.delete(f"{ROTA}/{past_id}", headers=await network.headers("admin"))
    assert await problem_code(resp, 409) == "invalid_transition"


def _later(hours: float) -> str:
    return iso(SOON + timedelta(hours=hours))


SOON = utcnow().replace(microsecond=0)


# (change to the valid body, status, code): each rule answers with its own stable code.
REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("end before start", {"start_at": _later(5), "end_at": _later(4)}, 400, "validation_error"),
    ("end equals start", {"start_at": _later(5), "end_at": _later(5)}, 400, "validation_error"),
    ("longer than 7 days", {"end_at": _later(1 + 7 * 24 + 1)}, 400, "validation_error"),
    ("naive start", {"start_at": "2031-05-01T08:00:00"}, 400, "validation_error"),
    ("date, not a time", {"end_at": "2031-05-01"}, 400, "validation_error"),
    ("year 1", {"start_at": "0001-01-01T00:00:00+07:00"}, 400, "validation_error"),
    ("ended already", {"start_at": _later(-30), "end_at": _later(-1)}, 400, "validation_error"),
    ("unknown specialty", {"specialty": "astrology"}, 400, "validation_error"),
    (
        "unknown facility",
        {"facility_id": "00000000-0000-4000-8000-000000000000"},
        400,
        "validation_error",
    ),
    ("unknown practitioner", {"practitioner_id": "nobody"}, 400, "validation_error"),
    ("unknown field", {"note": "x"}, 400, "validation_error"),
]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [(c, s_, k) for _, c, s_, k in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
async def test_bad_shifts_are_refused_with_a_stable_code(
    network: Network, change: dict[str, Any], status: int, code: str
) -> None:
    body = {**await shift_body(network, utcnow() + timedelta(hours=1)), **change}
    assert await problem_code(await post_shift(network, body), status) == code
    assert (await (await network.client.get(ROTA, headers=await network.headers("admin"))).json())[
        "items"
    ] == []


async def test_a_naive_time_is_refused_naming_the_field(network: Network) -> None:
    body = await shift_body(network, utcnow() + timedelta(hours=1), start_at="2031-05-01T08:00")
    resp = await post_shift(network, body)
    errors = (await resp.json())["errors"]
    assert ["body", "start_at"] in [e["location"] for e in errors]


async def test_only_central_and_provincial_hospitals_keep_a_rota(network: Network) -> None:
    district = await shift_body(
        network, utcnow() + timedelta(hours=1), facility_id=network.facilities["D1"]
    )
    assert await problem_code(await post_shift(network, district), 422) == "facility_ineligible"
    await add_provincial_hospital(network)
    provincial = await add_specialist(network, "bs.hai", "P1", ["cardiology"])
    body = await shift_body(
        network,
        utcnow() + timedelta(hours=1),
        facility_id=network.facilities["P1"],
        practitioner_id=provincial,
    )
    await add_shift(network, body)


async def test_the_specialist_must_hold_the_specialty_and_work_at_the_hospital(
    network: Network,
) -> None:
    start = utcnow() + timedelta(hours=1)
    await add_provincial_hospital(network)
    doctor = await practitioner_id(network, "doctor_a")  # not a specialist, at a district
    cases = [
        await shift_body(network, start, specialty="paediatrics"),
        await shift_body(network, start, facility_id=network.facilities["P1"]),
        await shift_body(network, start, specialty="general_medicine", practitioner_id=doctor),
    ]
    inactive = await add_specialist(network, "bs.nghi", "C0", ["cardiology"])
    await network.client.app[keys.ACCOUNTS].update_user(
        SEED, network.users["bs.nghi"], s.UserUpdate(active=False)
    )
    cases.append(await shift_body(network, start, practitioner_id=inactive))
    for body in cases:
        resp = await post_shift(network, body)
        assert await problem_code(resp, 422) == "practitioner_ineligible", body


async def test_overlapping_shifts_of_one_specialist_in_one_specialty_are_refused(
    network: Network,
) -> None:
    start = utcnow().replace(microsecond=0) + timedelta(hours=2)
    first = await add_shift(network, await shift_body(network, start, 12))
    overlap = await post_shift(network, await shift_body(network, start + timedelta(hours=11), 12))
    assert await problem_code(overlap, 409) == "overlapping_shift"
    assert (await overlap.json())["shift_id"] == first["id"]
    inside = await post_shift(network, await shift_body(network, start + timedelta(hours=1), 1))
    assert await problem_code(inside, 409) == "overlapping_shift"
    # Back to back is no overlap; nor is another specialty, or another specialist.
    await add_shift(network, await shift_body(network, start + timedelta(hours=12), 12))
    both = await add_specialist(network, "bs.da", "C0", ["cardiology", "paediatrics"])
    await add_shift(network, await shift_body(network, start, 12, practitioner_id=both))
    await add_shift(
        network, await shift_body(network, start, 12, practitioner_id=both, specialty="paediatrics")
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from": "2031-05-10T00:00:00+07:00", "to": "2031-05-01T00:00:00+07:00"}, "after"),
        ({"from": "2031-05-01", "to": "2031-06-15"}, "31 days"),
        ({"from": "2031-05-01T08:00:00"}, "from"),
        ({"from": "1999-12-31"}, "2000"),
        ({"to": "9999-12-31"}, "2000"),
    ],
)
async def test_a_bad_window_is_refused(
    network: Network, params: dict[str, str], fragment: str
) -> None:
    resp = await network.client.get(ROTA, params=params, headers=await network.headers("admin"))
    assert await problem_code(resp, 400) == "validation_error"
    assert fragment in (await resp.json())["detail"]


async def test_a_window_of_local_days(network: Network) -> None:
    # 2031-05-01 in Vietnam (UTC+7) starts at 2031-04-30T17:00Z.
    shift = await add_shift(
        network,
        await shift_body(network, datetime(2031, 4, 30, 17, 30, tzinfo=UTC), 2),
    )
    headers = await network.headers("admin")
    day = await network.client.get(
        ROTA, params={"from": "2031-05-01", "to": "2031-05-01"}, headers=headers
    )
    assert [i["id"] for i in (await day.json())["items"]] == [shift["id"]]
    before = await network.client.get(
        ROTA, params={"from": "2031-04-29", "to": "2031-04-30"}, headers=headers
    )
    assert (await before.json())["items"] == []


# --- the deadline watch ------------------------------------------------------------------------


async def test_an_overdue_consult_notifies_the_specialist_the_api_put_on_call(
    network: Network,
) -> None:
    app = network.client.app
    now = utcnow()
    await network.client.patch(
        "/api/v1/me", json={"email": "truc@bvtw.vn"}, headers=await network.headers("specialist")
    )
    colleague = await add_specialist(network, "bs.sau", "C0", ["cardiology"])
    await network.client.patch(
        "/api/v1/me", json={"email": "sau@bvtw.vn"}, headers=await network.headers("bs.sau")
    )
    # On call over the deadline (72 h from now); the colleague only the week after.
    await add_shift(network, await shift_body(network, now, 100))
    await add_shift(
        network,
        await shift_body(network, now + timedelta(hours=100), 24, practitioner_id=colleague),
    )
    cid = (await file_consult(network, urgency="routine"))["id"]
    service = ConsultService(
        app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=lambda: now + timedelta(hours=72.1)
    )
    assert await service.mark_overdue() == 1
    assert await service.mark_overdue() == 0
    async with UnitOfWork(app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.object_id == cid, OutboxMessage.topic == "consult.overdue"
            )
        )
        emails = sorted(m.recipient for m in rows.all() if m.channel == "email")
    assert "truc@bvtw.vn" in emails
    assert "sau@bvtw.vn" not in emails
    assert emails.count("truc@bvtw.vn") == 1


# --- the page ----------------------------------------------------------------------------------
# Once the browser holds a session cookie, bearer calls from the same client would be
# cross-site requests: the page tests make their API calls first and read the table after.


async def signed_in(net: Network, username: str) -> str:
    """Sign in with the form and return the CSRF token printed in the dashboard's forms."""
    net.client.session.cookie_jar.clear()
    resp = await net.client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        headers=net.origin,
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    page = await net.client.get("/")
    match = CSRF_RE.search(await page.text())
    assert match is not None
    return match.group(1)


async def stored_shifts(net: Network) -> list[OnCallShift]:
    """Every shift in the table, by start."""
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.scalars(select(OnCallShift).order_by(OnCallShift.start_at))
        found = list(rows.all())
        uow.session.expunge_all()
        return found


def local_form(start: datetime, hours: float = 12) -> dict[str, str]:
    """start_at/end_at as a `datetime-local` input sends them (Vietnam time, no offset)."""
    local = start.astimezone(UTC) + timedelta(hours=7)
    return {
        "start_at": local.strftime("%Y-%m-%dT%H:%M"),
        "end_at": (local + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M"),
    }


async def form_data(net: Network, start: datetime, **extra: str) -> dict[str, str]:
    """A valid form for the network's cardiologist (CSRF token added by the caller)."""
    return {
        "specialty": "cardiology",
        "facility_id": net.facilities["C0"],
        "practitioner_id": await practitioner_id(net, "specialist"),
        **local_form(start),
        **extra,
    }


async def test_admin_adds_and_removes_a_shift_on_the_page(network: Network) -> None:
    client = network.client
    start = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    data = await form_data(network, start)
    token = await signed_in(network, "admin")
    page = await client.get("/admin/on-call")
    assert page.status == 200
    text = await page.text()
    assert f'value="{data["practitioner_id"]}"' in text  # offered in the form
    assert network.facilities["D1"] not in text  # a district hospital keeps no rota
    resp = await client.post(
        "/admin/on-call",
        data={**data, "csrf_token": token},
        headers=network.origin,
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/admin/on-call?done=created"
    (shift,) = await stored_shifts(network)
    assert shift.start_at == start
    assert shift.end_at == start + timedelta(hours=12)
    listing = await (await client.get(resp.headers["Location"])).text()
    assert f"/admin/on-call/{shift.id}/delete" in listing
    local = start + timedelta(hours=7)
    assert local.strftime("%d/%m/%Y") in listing
    assert local.strftime("%H:%M") in listing

    removed = await client.post(
        f"/admin/on-call/{shift.id}/delete",
        data={"csrf_token": token},
        headers=network.origin,
        allow_redirects=False,
    )
    assert removed.status == 303
    assert await stored_shifts(network) == []
    listing = await (await client.get(removed.headers["Location"])).text()
    assert f"/admin/on-call/{shift.id}/delete" not in listing
    actions = [a for a, _ in await audit_actions(network, shift.id)]
    assert actions == ["on_call.create", "on_call.delete"]


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        ({"start_at": "2031-05-01T09:00", "end_at": "2031-05-01T08:00"}, 400, "f-end_at-error"),
        ({"start_at": "2031-05-01T09:00", "end_at": "2031-05-09T09:00"}, 400, "f-end_at-error"),
        ({"start_at": "not a time"}, 400, "f-start_at-error"),
        ({"practitioner_id": ""}, 400, "f-practitioner_id-error"),
        ({"facility_id": "D1"}, 422, "f-facility_id-error"),
        ({"specialty": "paediatrics"}, 422, "f-practitioner_id-error"),
        ({"start_at": "2020-05-01T08:00", "end_at": "2020-05-01T20:00"}, 400, "f-end_at-error"),
    ],
)
async def test_a_refused_shift_is_shown_on_the_form(
    network: Network, change: dict[str, str], status: int, where: str
) -> None:
    if change.get("facility_id") == "D1":
        change = {**change, "facility_id": network.facilities["D1"]}
    data = {**await form_data(network, utcnow() + timedelta(days=1)), **change}
    data["csrf_token"] = await signed_in(network, "admin")
    resp = await network.client.post("/admin/on-call", data=data, headers=network.origin)
    assert resp.status == status
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert f'id="{where}"' in text
    assert 'role="alert"' in text
    assert await stored_shifts(network) == []


async def test_an_overlapping_shift_is_a_409_on_the_form(network: Network) -> None:
    start = utcnow() + timedelta(days=1)
    await add_shift(network, await shift_body(network, start))
    data = await form_data(network, start)
    data["csrf_token"] = await signed_in(network, "admin")
    resp = await network.client.post("/admin/on-call", data=data, headers=network.origin)
    assert resp.status == 409
    assert 'role="alert"' in await resp.text()
    assert len(await stored_shifts(network)) == 1


async def test_the_page_is_for_admins_only(network: Network) -> None:
    anonymous = await network.client.get("/admin/on-call", allow_redirects=False)
    assert anonymous.status == 303
    assert anonymous.headers["Location"] == "/login?next=/admin/on-call"
    shift = await add_shift(network, await shift_body(network, utcnow() + timedelta(hours=1)))
    for username in ("specialist", "doctor_a", "coordinator_a", "patient_self"):
        token = await signed_in(network, username)
        page = await network.client.get("/admin/on-call", allow_redirects=False)
        assert page.status == 403
        assert page.content_type == "text/html"
        refused = await network.client.post(
            f"/admin/on-call/{shift['id']}/delete",
            data={"csrf_token": token},
            headers=network.origin,
            allow_redirects=False,
        )
        assert refused.status == 403
    assert [row.id for row in await stored_shifts(network)] == [shift["id"]]


async def test_the_forms_need_the_csrf_token(network: Network) -> None:
    shift = await add_shift(network, await shift_body(network, utcnow() + timedelta(hours=1)))
    data = await form_data(network, utcnow() + timedelta(days=2))
    await signed_in(network, "admin")
    resp = await network.client.post(
        "/admin/on-call", data={**data, "csrf_token": "0" * 64}, headers=network.origin
    )
    assert resp.status == 403
    resp = await network.client.post(
        f"/admin/on-call/{shift['id']}/delete", data={}, headers=network.origin
    )
    assert resp.status == 403
    assert [row.id for row in await stored_shifts(network)] == [shift["id"]]


async def test_removing_an_unknown_shift_on_the_page_is_a_404(network: Network) -> None:
    token = await signed_in(network, "admin")
    for shift_id in ("00000000-0000-4000-8000-000000000000", "x" * 80):
        resp = await network.client.post(
            f"/admin/on-call/{shift_id}/delete", data={"csrf_token": token}, headers=network.origin
        )
        assert resp.status == 404
        assert resp.content_type == "text/html"
