"""The access matrix of teaching sessions: every role against each teaching endpoint.

The session is the trainer's (central hospital C0) for district D1, whose trainee may see
and enrol in it. Roles without a teaching endpoint get 403; the anonymous caller 401.
Strangers holding a teaching role (another trainer, a trainee of another facility) get
the 404 of a missing session: tests/integration/test_teaching.py.
"""

from __future__ import annotations

from datetime import timedelta

from telehealth.db.base import utcnow
from tests.integration.test_access import ANON
from tests.integration.test_access_rooms import ALL, _statuses
from tests.support.network import Network
from tests.support.teaching import schedule_session

BASE = "/api/v1/teaching-sessions"
ENDPOINTS = {
    ("POST", BASE),
    ("GET", BASE),
    ("GET", BASE + "/{session_id}"),
    ("POST", BASE + "/{session_id}/cancel"),
    ("POST", BASE + "/{session_id}/enrol"),
    ("POST", BASE + "/{session_id}/enrolment/cancel"),
    ("GET", BASE + "/{session_id}/enrolments"),
    ("GET", BASE + "/{session_id}/attendance"),
    ("GET", BASE + "/{session_id}/attendance.csv"),
}


def _expect(allowed: dict[str, int]) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else 403) for who in ALL}


async def test_each_role_against_each_teaching_endpoint(network: Network) -> None:
    session = await schedule_session(network)
    one = f"{BASE}/{session['id']}"
    start = utcnow() + timedelta(days=1)
    body = {
        "title": "Hồi sức sơ sinh",
        "topic": "Thực hành",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "capacity": 3,
        "facility_ids": [network.facilities["D1"]],
    }
    assert await _statuses(network, "POST", BASE, body) == _expect({"trainer": 201})
    readers = {"trainer": 200, "trainee": 200}
    assert await _statuses(network, "GET", BASE) == _expect(readers)
    assert await _statuses(network, "GET", one) == _expect(readers)
    assert await _statuses(network, "POST", one + "/enrol") == _expect({"trainee": 201})
    for part in ("/enrolments", "/attendance", "/attendance.csv"):
        assert await _statuses(network, "GET", one + part) == _expect({"trainer": 200})
    cancel = await _statuses(network, "POST", one + "/enrolment/cancel")
    assert cancel == _expect({"trainee": 200})
    assert await _statuses(network, "POST", one + "/cancel") == _expect({"trainer": 200})
