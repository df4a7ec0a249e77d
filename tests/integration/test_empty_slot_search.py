"""An empty slot search says why (no one to book, no hours, all booked) and names the next
day that has a free slot, in the API and on the find-a-doctor page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.network import Network
from tests.support.pages import browse_as, page, with_every_token
from tests.support.scheduling import practitioner_id

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first (pages are used too)."""
    return await with_every_token(network)


def _today() -> date:
    return datetime.now(VIETNAM).date()


async def _hours(net: Network, rules: list[dict[str, Any]]) -> str:
    pid = await practitioner_id(net, "specialist")
    resp = await net.client.put(
        f"/api/v1/practitioners/{pid}/availability",
        json={"rules": rules},
        headers=await net.headers("specialist"),
    )
    assert resp.status == 200, await resp.text()
    return pid


async def _search(net: Network, **params: str) -> dict[str, Any]:
    resp = await net.client.get(
        "/api/v1/slots", params=params, headers=await net.headers("patient_self")
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_no_practitioner_of_the_specialty(network: Network) -> None:
    body = await _search(network, specialty="paediatrics")
    assert body["items"] == []
    assert (body["empty_reason"], body["next_date"]) == ("no_practitioner", None)


async def test_no_hours_in_the_range_names_the_first_day_with_hours(network: Network) -> None:
    assert (await _search(network, specialty="cardiology"))["empty_reason"] == "no_hours"
    opens = _today() + timedelta(days=20)
    every_day = [
        {"weekday": d, "start": "08:00", "end": "09:00", "slot_minutes": 30} for d in range(7)
    ]
    await _hours(network, [{**r, "valid_from": opens.isoformat()} for r in every_day])
    body = await _search(network, specialty="cardiology")
    assert (body["items"], body["empty_reason"]) == ([], "no_hours")
    assert body["next_date"] == opens.isoformat()
    # A search that finds slots carries no explanation.
    found = await _search(network, specialty="cardiology", **{"from": opens.isoformat()})
    assert found["items"]
    assert (found["empty_reason"], found["next_date"]) == (None, None)


async def test_all_booked_names_the_next_day_with_a_free_slot(network: Network) -> None:
    await _hours(
        network,
        [{"weekday": d, "start": "08:00", "end": "08:30", "slot_minutes": 30} for d in range(7)],
    )
    day = (_today() + timedelta(days=3)).isoformat()
    only = (await _search(network, specialty="cardiology", **{"from": day, "to": day}))["items"]
    assert len(only) == 1
    booked = await network.client.post(
        "/api/v1/appointments",
        json={"slot_id": only[0]["id"], "reason": "Khám tim"},
        headers=await network.headers("patient_self"),
    )
    assert booked.status == 201, await booked.text()
    body = await _search(network, specialty="cardiology", **{"from": day, "to": day})
    assert (body["items"], body["empty_reason"]) == ([], "all_booked")
    assert body["next_date"] == (_today() + timedelta(days=4)).isoformat()


async def test_the_find_page_says_why_and_links_the_next_date(network: Network) -> None:
    await browse_as(network, "patient_self")
    nobody = await page(network, "/find?specialty=paediatrics")
    assert "Không có bác sĩ nào thuộc chuyên khoa này" in nobody
    opens = _today() + timedelta(days=20)
    await _hours(
        network,
        [
            {
                "weekday": d,
                "start": "08:00",
                "end": "09:00",
                "slot_minutes": 30,
                "valid_from": opens.isoformat(),
            }
            for d in range(7)
        ],
    )
    empty = await page(network, "/find?specialty=cardiology")
    assert "không có giờ làm việc" in empty
    assert f"date={opens.isoformat()}" in empty
    later = await page(network, f"/find?specialty=cardiology&date={opens.isoformat()}")
    assert 'id="no-slots"' not in later
    assert "08:00" in later
