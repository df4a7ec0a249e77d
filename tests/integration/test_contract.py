"""The API and its OpenAPI document agree on what schemathesis found them to disagree
on: the format of local times, what a date in a query is, which statuses sign-in can
answer, and which methods a fixed path such as `/consults/stats` allows."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.support.network import Network
from tests.support.scheduling import practitioner_id

LOCAL_TIMES = ("RuleIn", "RuleOut", "BreakIn")


async def document_of(network: Network) -> dict[str, Any]:
    return dict(await (await network.client.get("/api/openapi.json")).json())


async def test_rule_times_validate_against_the_document_with_formats(network: Network) -> None:
    """Weekly rules are local wall-clock times ("07:00:00", no offset): the document must
    not call them RFC 3339 `time`, which requires an offset."""
    document = await document_of(network)
    headers = await network.headers("admin")
    who = await practitioner_id(network, "specialist")
    rule = {"weekday": 0, "start": "07:00", "end": "11:00", "slot_minutes": 30}
    put = await network.client.put(
        f"/api/v1/practitioners/{who}/availability", json={"rules": [rule]}, headers=headers
    )
    assert put.status == 200, await put.text()
    answer = await put.json()
    schema = {**document["components"]["schemas"]["RuleOut"], "components": document["components"]}
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    for stored in answer if isinstance(answer, list) else answer["rules"]:
        errors = [e.message for e in validator.iter_errors(stored)]
        assert not errors, (stored, errors)
        assert stored["start"] == "07:00:00"


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("/api/v1/consults/stats", "admin"),
        ("/api/v1/slots", "patient_self"),
        ("/api/v1/on-call", "admin"),
        ("/api/v1/appointments", "admin"),
    ],
)
@pytest.mark.parametrize("value", ["0.5", "20240101", "1700000000", "tomorrow"])
async def test_a_number_is_not_a_date(network: Network, path: str, user: str, value: str) -> None:
    resp = await network.client.get(path, params={"to": value}, headers=await network.headers(user))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["code"] == "validation_error"


async def test_sign_in_documents_that_it_answers_401(network: Network) -> None:
    paths = (await document_of(network))["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/token"):
        assert "401" in paths[path]["post"]["responses"], path
        resp = await network.client.post(path, json={"username": "nobody", "password": "x" * 10})
        assert resp.status == 401, path


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/api/v1/consults/stats", {"GET"}), ("/api/v1/on-call/now", {"GET"})],
)
async def test_a_fixed_path_is_not_taken_for_an_id(
    network: Network, path: str, allowed: set[str]
) -> None:
    """`/consults/stats` is not the consult with id `stats`: a method it does not take is
    a 405 naming its own methods."""
    resp = await network.client.delete(path, headers=await network.headers("admin"))
    assert resp.status == 405, await resp.text()
    assert set(resp.headers["Allow"].split(",")) == allowed
