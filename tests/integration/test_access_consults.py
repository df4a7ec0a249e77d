"""The access matrix of consults: every role against every consult endpoint.

The consult under test: doctor_a (district D1) asks cardiology about patient_a; the
specialist (cardiology, central C0) serves that queue. doctor_b (district D2) is a
stranger to it; the admin sees metadata only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_access import ANON, EVERYONE
from tests.support.consults import file_consult
from tests.support.network import Network

ALL = (*EVERYONE, ANON)
C = "/api/v1/consults/{consult_id}"
ENDPOINTS = {
    ("POST", "/api/v1/consults"),
    ("GET", "/api/v1/consults"),
    ("GET", C),
    ("PATCH", C),
    *{
        ("POST", C + "/" + a)
        for a in (
            "submit",
            "amend",
            "cancel",
            "accept",
            "decline",
            "assign",
            "request-info",
            "messages",
            "opinion",
            "schedule",
        )
    },
    ("GET", C + "/timeline"),
    ("GET", C + "/opinions"),
    ("GET", C + "/amendments"),
}
NON_CLINICIANS = {"trainer": 403, "trainee": 403, "patient_self": 403, "coordinator_a": 403}
# Specialist-only actions refuse every other role at the door, before any record is read.
NOT_SPECIALISTS = {**NON_CLINICIANS, "admin": 403, "doctor_a": 403, "doctor_b": 403}


def _expect(allowed: dict[str, int], refused: int = 404) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else refused) for who in ALL}


async def _call(net: Network, who: str, method: str, url: str, body: Any = None) -> int:
    headers = {} if who == ANON else await net.headers(who)
    resp = await net.client.request(method, url, json=body, headers=headers)
    return resp.status


async def test_filing_and_listing(network: Network) -> None:
    body = {
        "patient_id": network.patients["patient_a"],
        "specialty": "cardiology",
        "urgency": "routine",
        "question": "?",
    }
    filed = {who: await _call(network, who, "POST", "/api/v1/consults", body) for who in ALL}
    assert filed == _expect({"doctor_a": 201, "doctor_b": 404}, 403)
    listed = {who: await _call(network, who, "GET", "/api/v1/consults") for who in ALL}
    readers = {"doctor_a": 200, "doctor_b": 200, "specialist": 200, "admin": 200}
    assert listed == _expect(readers, 403)


@pytest.mark.parametrize(
    ("method", "suffix", "body", "allowed", "refused_roles"),
    [
        ("GET", "", None, {"doctor_a": 200, "specialist": 200, "admin": 200}, NON_CLINICIANS),
        (
            "GET",
            "/timeline",
            None,
            {"doctor_a": 200, "specialist": 200},
            {**NON_CLINICIANS, "admin": 403},
        ),
        (
            "GET",
            "/opinions",
            None,
            {"doctor_a": 200, "specialist": 200},
            {**NON_CLINICIANS, "admin": 403},
        ),
        (
            "GET",
            "/amendments",
            None,
            {"doctor_a": 200, "specialist": 200},
            {**NON_CLINICIANS, "admin": 403},
        ),
        (
            "POST",
            "/messages",
            {"text": "Chào anh"},
            {"doctor_a": 201, "specialist": 201},
            {**NON_CLINICIANS, "admin": 403},
        ),
        (
            "POST",
            "/accept",
            None,
            {"specialist": 200},
            NOT_SPECIALISTS,
        ),
        (
            "POST",
            "/decline",
            {"reason": "Không phù hợp"},
            {"specialist": 200},
            NOT_SPECIALISTS,
        ),
        (
            "POST",
            "/amend",
            {"question": "Thêm câu hỏi", "note": "bổ sung"},
            {"doctor_a": 200},
            {**NON_CLINICIANS, "admin": 403, "specialist": 403},
        ),
        (
            "POST",
            "/cancel",
            {"reason": "Bệnh nhân đã chuyển viện"},
            {"doctor_a": 200},
            {**NON_CLINICIANS, "admin": 403, "specialist": 403},
        ),
        # Answering needs the consult accepted first; the queue specialist is not yet an
        # assignee, so even they are refused here (403).
        (
            "POST",
            "/request-info",
            {"question": "?"},
            {},
            {**NOT_SPECIALISTS, "specialist": 403},
        ),
        (
            "POST",
            "/opinion",
            {"assessment": "a", "recommendations": "r", "disposition": "manage_locally"},
            {},
            {**NOT_SPECIALISTS, "specialist": 403},
        ),
        (
            "POST",
            "/assign",
            {"practitioner_id": "x"},
            {},
            {**NOT_SPECIALISTS, "specialist": 403},
        ),
        (
            "POST",
            "/schedule",
            {"start": "2099-01-01T08:00:00+07:00"},
            {},
            {**NOT_SPECIALISTS, "specialist": 403},
        ),
    ],
)
async def test_each_role_on_a_submitted_consult(
    network: Network,
    method: str,
    suffix: str,
    body: Any,
    allowed: dict[str, int],
    refused_roles: dict[str, int],
) -> None:
    outcome = {}
    for who in ALL:
        cid = (await file_consult(network))["id"]
        outcome[who] = await _call(network, who, method, C.format(consult_id=cid) + suffix, body)
    assert outcome == _expect({**allowed, **refused_roles})


async def test_drafts_are_for_their_author(network: Network) -> None:
    outcome_patch, outcome_submit = {}, {}
    for who in ALL:
        cid = (await file_consult(network, draft=True))["id"]
        url = C.format(consult_id=cid)
        outcome_patch[who] = await _call(network, who, "PATCH", url, {"question": "Sửa"})
        outcome_submit[who] = await _call(network, who, "POST", url + "/submit")
    refused = {"specialist": 403, "admin": 403, **NON_CLINICIANS}
    assert outcome_patch == _expect({"doctor_a": 200, **refused})
    assert outcome_submit == _expect({"doctor_a": 200, **refused})
