"""The access matrix of consult attachments: every role against upload, list, download,
preview and thumbnail.

The consult under test: doctor_a (district D1) asks cardiology about patient_a, with one
DICOM attached; the specialist (cardiology) sees it while it waits in the queue but may
attach only once assigned. doctor_b (district D2) is a stranger to it; the admin, not a
party, must not learn that the files exist.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration.test_access import ANON, EVERYONE
from tests.support import files
from tests.support.consults import act, file_consult
from tests.support.network import Network

ALL = (*EVERYONE, ANON)
LIST = "/api/v1/consults/{consult_id}/attachments"
ONE = LIST + "/{attachment_id}"
ENDPOINTS = {
    ("POST", LIST),
    ("GET", LIST),
    ("GET", ONE),
    ("GET", ONE + "/preview"),
    ("GET", ONE + "/thumbnail"),
}
OUTSIDE_ROLES = {"trainer": 403, "trainee": 403, "patient_self": 403, "coordinator_a": 403}
READ = {"doctor_a": 200, "specialist": 200, "doctor_b": 404, "admin": 404, **OUTSIDE_ROLES}


def _expect(outcomes: dict[str, int]) -> dict[str, int]:
    return {who: outcomes.get(who, 401) for who in ALL}


def _url(kind: str, cid: str, aid: str) -> str:
    one = ONE.format(consult_id=cid, attachment_id=aid)
    return {
        "list": LIST.format(consult_id=cid),
        "download": one,
        "preview": one + "/preview",
        "thumbnail": one + "/thumbnail",
    }[kind]


async def _call(net: Network, who: str, method: str, url: str) -> int:
    headers = {} if who == ANON else await net.headers(who)
    form = None
    if method == "POST":
        form = aiohttp.FormData()
        form.add_field("file", files.png(), filename="ecg.png", content_type="image/png")
    resp = await net.client.request(method, url, data=form, headers=headers)
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json", await resp.text()
    return resp.status


async def _consult_with_file(net: Network, **options: Any) -> tuple[str, str]:
    """A consult of doctor_a's with a DICOM attached: its id and the attachment's."""
    cid = (await file_consult(net, **options))["id"]
    form = aiohttp.FormData()
    form.add_field("file", files.dicom(16, 16), filename="ct.dcm")
    resp = await net.client.post(
        LIST.format(consult_id=cid), data=form, headers=await net.headers("doctor_a")
    )
    assert resp.status == 201, await resp.text()
    return cid, (await resp.json())["id"]


async def test_uploading_is_for_the_requester_and_the_assigned_specialists(
    network: Network,
) -> None:
    outcome = {}
    for who in ALL:
        cid = (await file_consult(network))["id"]
        outcome[who] = await _call(network, who, "POST", LIST.format(consult_id=cid))
    # The queue specialist sees the consult but is not assigned to it yet; the admin's
    # role may not upload at all.
    uploaders = {"doctor_a": 201, "specialist": 403, "doctor_b": 404, "admin": 403}
    assert outcome == _expect({**uploaders, **OUTSIDE_ROLES})


@pytest.mark.parametrize("kind", ["list", "download", "preview", "thumbnail"])
async def test_reading_is_for_the_parties_only(network: Network, kind: str) -> None:
    cid, aid = await _consult_with_file(network)
    outcome = {who: await _call(network, who, "GET", _url(kind, cid, aid)) for who in ALL}
    assert outcome == _expect(READ)


async def test_a_specialist_of_another_specialty_learns_nothing(network: Network) -> None:
    cid, aid = await _consult_with_file(network, specialty="dermatology")
    outcome = {
        kind: await _call(network, "specialist", "GET", _url(kind, cid, aid))
        for kind in ("list", "download", "preview", "thumbnail")
    }
    outcome["upload"] = await _call(network, "specialist", "POST", LIST.format(consult_id=cid))
    assert outcome == {
        "list": 404,
        "download": 404,
        "preview": 404,
        "thumbnail": 404,
        "upload": 404,
    }


async def test_a_draft_is_its_authors_alone(network: Network) -> None:
    cid, aid = await _consult_with_file(network, draft=True)
    for who, expected in {"doctor_a": 200, "specialist": 404, "admin": 404}.items():
        for kind in ("list", "download", "preview", "thumbnail"):
            assert await _call(network, who, "GET", _url(kind, cid, aid)) == expected, (who, kind)
    assert await _call(network, "specialist", "POST", LIST.format(consult_id=cid)) == 404


async def test_an_attachment_is_only_found_under_its_own_consult(network: Network) -> None:
    cid, aid = await _consult_with_file(network)
    other = (await file_consult(network))["id"]
    headers = await network.headers("doctor_a")
    answers = [
        await network.client.get(_url(kind, other, aid), headers=headers)
        for kind in ("download", "preview", "thumbnail")
    ]
    answers.append(
        await network.client.get(
            _url("download", cid, "00000000-0000-4000-8000-000000000000"), headers=headers
        )
    )
    assert [r.status for r in answers] == [404, 404, 404, 404]
    assert {(await r.json())["detail"] for r in answers} == {"No such attachment."}


async def test_an_assigned_specialist_reads_and_adds_files(network: Network) -> None:
    cid, aid = await _consult_with_file(network)
    assert (await act(network, "specialist", cid, "accept")).status == 200
    assert await _call(network, "specialist", "POST", LIST.format(consult_id=cid)) == 201
    assert await _call(network, "specialist", "GET", _url("download", cid, aid)) == 200
