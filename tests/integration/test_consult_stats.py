"""Consult figures: counts, medians and shares per specialty on a set of consults whose
times are set to known values, the period and facility filters, and period validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from telehealth import keys
from telehealth.consults.models import ConsultAssignee, ConsultRequest
from telehealth.consults.stats import ConsultStats, StatsQuery
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from tests.support.consults import file_consult
from tests.support.network import Network
from tests.support.scheduling import practitioner_id

STATS = "/api/v1/consults/stats"
H = timedelta(hours=1)
M = timedelta(minutes=1)


async def set_row(net: Network, consult_id: str, **values: Any) -> None:
    """Write columns of one consult directly (times the flow would take days to reach)."""
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(ConsultRequest).where(ConsultRequest.id == consult_id).values(**values)
        )
        await uow.commit()


async def consult_at(
    net: Network,
    specialty: str,
    submitted: datetime,
    due: timedelta,
    status: str,
    answered: timedelta | None = None,
    **values: Any,
) -> str:
    """A consult filed now, then moved to `submitted` with its deadline and answer."""
    cid = str((await file_consult(net, specialty=specialty))["id"])
    await set_row(
        net,
        cid,
        status=status,
        submitted_at=submitted,
        due_at=submitted + due,
        answered_at=submitted + answered if answered is not None else None,
        **values,
    )
    return cid


async def stats(net: Network, who: str = "admin", **params: str) -> Any:
    resp = await net.client.get(
        f"{STATS}?{urlencode(params)}" if params else STATS, headers=await net.headers(who)
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def t0() -> datetime:
    """The start of the period under test: a whole minute, 30 days ago."""
    return utcnow().replace(second=0, microsecond=0) - timedelta(days=30)


@pytest.fixture
async def known(network: Network, t0: datetime) -> dict[str, str]:
    """Cardiology: 3 answered (60 min in time, 1800 min late, 240 min in time), 1 open and
    overdue, 1 declined; dermatology: 1 answered late (120 min), 1 open within its
    deadline. Outside the period or never submitted: 3 more that must not count."""
    net = network
    ids = {
        "a": await consult_at(net, "cardiology", t0 + H, 72 * H, "answered", 60 * M),
        "b": await consult_at(net, "cardiology", t0 + 2 * H, 24 * H, "answered", 1800 * M),
        "c": await consult_at(net, "cardiology", t0 + 3 * H, 72 * H, "accepted"),
        "d": await consult_at(net, "cardiology", t0 + 4 * H, 72 * H, "declined"),
        "i": await consult_at(net, "cardiology", t0 + 5 * H, 72 * H, "answered", 240 * M),
        "e": await consult_at(net, "dermatology", t0 + 6 * H, H, "answered", 120 * M),
        # Submitted 9 days in, due 31 days later: still within its deadline today.
        "f": await consult_at(net, "dermatology", t0 + timedelta(days=9), 31 * 24 * H, "submitted"),
        "before": await consult_at(net, "cardiology", t0 - M, 72 * H, "answered", 10 * M),
        "at_end": await consult_at(net, "cardiology", t0 + timedelta(days=10), H, "submitted"),
    }
    draft = await file_consult(net, draft=True)
    ids["draft"] = str(draft["id"])
    return ids


def period(t0: datetime) -> dict[str, str]:
    return {"from": iso(t0), "to": iso(t0 + timedelta(days=10))}


async def test_figures_per_specialty_from_known_times(
    network: Network, known: dict[str, str], t0: datetime
) -> None:
    body = await stats(network, **period(t0))
    rows = {r["specialty"]: r for r in body["specialties"]}
    assert [r["specialty"] for r in body["specialties"]] == ["cardiology", "dermatology"]
    assert rows["cardiology"] == {
        "specialty": "cardiology",
        "submitted": 5,
        "answered": 3,
        "open": 1,
        "overdue": 1,
        "closed": 1,
        "answered_in_time": 2,
        "median_minutes_to_answer": 240.0,
        "answered_in_time_share": pytest.approx(2 / 3, abs=1e-4),
    }
    assert rows["dermatology"] == {
        "specialty": "dermatology",
        "submitted": 2,
        "answered": 1,
        "open": 1,
        "overdue": 0,
        "closed": 0,
        "answered_in_time": 0,
        "median_minutes_to_answer": 120.0,
        "answered_in_time_share": 0.0,
    }
    total = body["total"]
    assert (total["submitted"], total["answered"], total["open"], total["overdue"]) == (7, 4, 2, 1)
    # The median of 60, 120, 240 and 1800 minutes lies halfway between 120 and 240.
    assert total["median_minutes_to_answer"] == 180.0
    assert total["answered_in_time_share"] == 0.5
    assert datetime.fromisoformat(body["start"]) == t0
    assert datetime.fromisoformat(body["end"]) == t0 + timedelta(days=10)


async def test_the_period_decides_what_counts(
    network: Network, known: dict[str, str], t0: datetime
) -> None:
    # The first five hours hold consults a, b, c and d (submitted at 1, 2, 3 and 4 h).
    early = await stats(network, **{"from": iso(t0), "to": iso(t0 + 4 * H + M)})
    assert early["total"]["submitted"] == 4
    assert early["total"]["median_minutes_to_answer"] == 930.0  # 60 and 1800
    # The consult filed a minute before the period counts once the period starts earlier.
    wider = await stats(network, **{"from": iso(t0 - H), "to": iso(t0 + timedelta(days=10))})
    assert wider["total"]["submitted"] == 8
    # The consult submitted exactly at `to` belongs to the next period.
    later = await stats(
        network, **{"from": iso(t0 + timedelta(days=10)), "to": iso(t0 + timedelta(days=11))}
    )
    assert later["total"]["submitted"] == 1
    assert later["specialties"][0]["overdue"] == 1


async def test_default_period_is_the_last_30_days(network: Network) -> None:
    fresh = await file_consult(network, urgency="urgent")
    old = await file_consult(network)
    await set_row(network, old["id"], submitted_at=utcnow() - timedelta(days=31))
    body = await stats(network, "specialist")
    assert body["total"]["submitted"] == 1
    assert body["specialties"][0]["open"] == 1
    end = datetime.fromisoformat(body["end"])
    assert end - datetime.fromisoformat(body["start"]) == timedelta(days=30)
    assert fresh["id"] not in str(body)


async def test_dates_are_local_days_with_to_included(network: Network) -> None:
    # 23:30 on 1 March in Hanoi is 16:30 UTC: it belongs to the local day of 1 March.
    late_evening = datetime(2025, 3, 1, 16, 30, tzinfo=UTC)
    await consult_at(network, "cardiology", late_evening, 72 * H, "answered", 30 * M)
    body = await stats(network, **{"from": "2025-03-01", "to": "2025-03-01"})
    assert body["total"]["submitted"] == 1
    assert datetime.fromisoformat(body["start"]) == datetime(2025, 2, 28, 17, tzinfo=UTC)
    assert datetime.fromisoformat(body["end"]) == datetime(2025, 3, 1, 17, tzinfo=UTC)
    next_day = await stats(network, **{"from": "2025-03-02", "to": "2025-03-02"})
    assert next_day["total"]["submitted"] == 0


async def test_one_facility_counts_what_it_was_asked_or_took(
    network: Network, known: dict[str, str], t0: datetime
) -> None:
    c0 = network.facilities["C0"]
    await set_row(network, known["a"], target_facility_id=c0)
    await set_row(network, known["c"], target_facility_id=c0)
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        uow.session.add(
            ConsultAssignee(
                consult_id=known["e"],
                practitioner_id=await practitioner_id(network, "specialist"),
                lead=True,
            )
        )
        await uow.commit()
    body = await stats(network, **period(t0), facility_id=c0)
    rows = {r["specialty"]: r for r in body["specialties"]}
    assert body["facility_id"] == c0
    assert (rows["cardiology"]["submitted"], rows["cardiology"]["overdue"]) == (2, 1)
    assert rows["dermatology"]["submitted"] == 1
    elsewhere = await stats(network, **period(t0), facility_id=network.facilities["D2"])
    assert elsewhere["specialties"] == []
    assert elsewhere["total"]["median_minutes_to_answer"] is None
    assert elsewhere["total"]["answered_in_time_share"] is None


async def test_figures_hold_counts_and_no_clinical_content(
    network: Network, known: dict[str, str], t0: datetime
) -> None:
    resp = await network.client.get(
        f"{STATS}?{urlencode(period(t0))}", headers=await network.headers("specialist")
    )
    text = await resp.text()
    assert resp.status == 200
    for clinical in ("Bệnh nhân", "chụp mạch vành", "Aspirin", network.patients["patient_a"]):
        assert clinical not in text
    assert not any(cid in text for cid in known.values())


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2025-03-02", "to": "2025-03-01"},
        {"from": "2025-03-01T10:00:00+07:00", "to": "2025-03-01T10:00:00+07:00"},
        {"from": "2024-01-01", "to": "2025-01-01"},  # 367 days
        {"from": "0001-01-01"},
        {"to": "9999-12-31"},
        {"from": "2025-03-01T10:00:00"},  # no offset: which 10 o'clock?
        {"from": "yesterday"},
        {"facility_id": "00000000-0000-4000-8000-000000000000"},
        {"facility_id": ""},
        {"period": "month"},
    ],
)
async def test_bad_periods_and_facilities_are_400(network: Network, params: dict[str, str]) -> None:
    resp = await network.client.get(
        f"{STATS}?{urlencode(params)}", headers=await network.headers("admin")
    )
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == "validation_error"


async def test_a_whole_leap_year_is_allowed(network: Network) -> None:
    body = await stats(network, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"]) == timedelta(
        days=366
    )


async def test_overdue_is_as_of_now(network: Network) -> None:
    """An open request counts as overdue once its deadline passes, watched or not."""
    app = network.client.app
    cid = (await file_consult(network, urgency="emergency"))["id"]
    submitted = utcnow() - 30 * M
    await set_row(network, cid, submitted_at=submitted, due_at=submitted + H)
    query_from = {"from": iso(submitted - M)}
    sessions, settings = app[keys.SESSIONMAKER], app[keys.SETTINGS]
    before = ConsultStats(sessions, settings, clock=lambda: submitted + H - M)
    after = ConsultStats(sessions, settings, clock=lambda: submitted + H)
    query = StatsQuery.model_validate(query_from)
    assert (await before.figures(query)).total.overdue == 0
    assert (await after.figures(query)).total.overdue == 1


async def test_specialists_get_whole_local_days_admins_exact_times(network: Network) -> None:
    """A narrow window of exact times would single out one request of another specialty
    (when it was filed, whether it was answered): for specialists the period is widened to
    the local days it touches; admins get what they asked for."""
    ten_am = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
    await consult_at(network, "dermatology", ten_am, 72 * H, "submitted")
    await consult_at(network, "dermatology", ten_am + 5 * H, 72 * H, "answered", 30 * M)
    window = {"from": iso(ten_am - M), "to": iso(ten_am + M)}
    exact = await stats(network, "admin", **window)
    assert exact["total"]["submitted"] == 1
    assert datetime.fromisoformat(exact["start"]) == ten_am - M
    widened = await stats(network, "specialist", **window)
    assert widened["total"]["submitted"] == 2
    assert widened["total"]["answered"] == 1
    assert datetime.fromisoformat(widened["start"]) == datetime(2025, 2, 28, 17, tzinfo=UTC)
    assert datetime.fromisoformat(widened["end"]) == datetime(2025, 3, 1, 17, tzinfo=UTC)
    # A period already on local midnights is not widened further.
    day = {"from": iso(datetime(2025, 2, 28, 17, tzinfo=UTC)), "to": "2025-03-01"}
    same = await stats(network, "specialist", **day)
    assert (same["start"], same["end"]) == (widened["start"], widened["end"])
