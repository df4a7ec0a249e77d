"""Bad input never reaches a 500: every JSON endpoint answers problem+json 4xx.

The endpoints are taken from the app's own endpoint list, so a new endpoint is covered
the day it is declared: malformed JSON, non-object JSON, wrong field types, unknown
fields, wrong media types, oversized and corrupt bodies, bad `limit`/`cursor`, unknown
query parameters, unknown paths and methods, and broken credentials.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, ValidationError

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.views.routing import Endpoint
from tests.support.consults import file_consult
from tests.support.network import PASSWORD, USERS, Network, build_network
from tests.support.rtc import book_visit

PROBLEM = "application/problem+json"
PARAM_RE = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# A well-formed id that names nothing; input checks come before any lookup.
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SMALL_LIMIT = 2048


def json_endpoints(client: TestClient[Any, Any]) -> list[Endpoint]:
    """The running app's JSON endpoints (pages are left out)."""
    return [e for e in client.app[keys.ENDPOINTS] if not e.page]


def label(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


async def each(endpoints: list[Endpoint], check: Callable[[Endpoint], Awaitable[None]]) -> None:
    """Run `check` on every endpoint; fail once, listing every endpoint that failed."""
    assert endpoints, "no endpoint to check"
    failures = []
    for endpoint in endpoints:
        try:
            await check(endpoint)
        except AssertionError as exc:
            failures.append(f"{label(endpoint)}: {exc}")
    assert not failures, "\n".join(failures)


def with_body(client: TestClient[Any, Any]) -> list[Endpoint]:
    return [e for e in json_endpoints(client) if e.body is not None]


def paged(client: TestClient[Any, Any]) -> list[Endpoint]:
    return [
        e
        for e in json_endpoints(client)
        if e.query is not None and {"limit", "cursor"} <= set(e.query.model_fields)
    ]


# The network's users, with patient_self holding the patient role.
USER_ROLES: dict[str, frozenset[Role]] = {
    **{name: frozenset(roles) for name, (roles, _f, _s) in USERS.items()},
    "patient_self": frozenset({Role.PATIENT}),
}


def caller_for(endpoint: Endpoint) -> str | None:
    """A network user the endpoint admits (None: call it anonymously)."""
    if endpoint.public:
        return None
    if endpoint.roles is None:
        return "patient_self"
    if Role.ADMIN in endpoint.roles:
        return "admin"
    return next(name for name, roles in USER_ROLES.items() if roles & endpoint.roles)


def outsider_for(endpoint: Endpoint) -> str | None:
    """A signed-in user whose roles the endpoint does not admit, if there is one."""
    assert endpoint.roles
    return next((n for n, roles in USER_ROLES.items() if not roles & endpoint.roles), None)


def concrete_path(endpoint: Endpoint, net: Network) -> str:
    """The endpoint's path with real ids where the network has them."""
    ids = {
        "user_id": net.users["doctor_a"],
        "patient_id": net.patients["patient_a"],
        "facility_id": net.facilities["D1"],
        **net.extra_ids,
    }
    return PARAM_RE.sub(lambda m: ids.get(m.group(1), UNKNOWN_ID), endpoint.path)


async def auth_headers(net: Network, user: str | None) -> dict[str, str]:
    """Bearer headers of `user`, or none for an anonymous call."""
    return await net.headers(user) if user else {}


async def problem(resp: ClientResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 answer with our fields and stable code; return its body."""
    text = await resp.text()
    where = f"{resp.method} {resp.url.path_qs} -> {resp.status}: {text[:300]}"
    assert resp.status == status, where
    assert resp.content_type == PROBLEM, where
    body = json.loads(text)
    assert isinstance(body, dict), where
    for field in ("type", "title", "status", "detail", "code"):
        assert field in body, f"{field} missing: {where}"
    assert body["status"] == status, where
    assert isinstance(body["detail"], str), where
    assert isinstance(body["title"], str), where
    assert body["detail"], where
    if code is not None:
        assert body["code"] == code, where
    if "request_id" in body:
        assert body["request_id"] == resp.headers["X-Request-ID"], where
    return body


def named_locations(body: dict[str, Any]) -> list[list[str]]:
    """The `location` of every field error in a validation problem."""
    errors = body.get("errors")
    assert isinstance(errors, list), body
    assert errors, body
    for error in errors:
        assert {"location", "message", "type"} <= set(error), error
    return [e["location"] for e in errors]


@dataclass
class EndpointCall:
    """A request to one endpoint by the caller its roles admit."""

    client: TestClient[Any, Any]
    endpoint: Endpoint
    path: str
    headers: dict[str, str]

    @classmethod
    async def to(cls, endpoint: Endpoint, net: Network) -> EndpointCall:
        headers = await auth_headers(net, caller_for(endpoint))
        return cls(net.client, endpoint, concrete_path(endpoint, net), headers)

    async def send(
        self,
        data: bytes | None = None,
        *,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> ClientResponse:
        sent = dict(self.headers)
        if content_type is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        url = self.path + (f"?{query}" if query else "")
        return await self.client.request(self.endpoint.method, url, data=data, headers=sent)

    async def send_json(self, value: Any) -> ClientResponse:
        return await self.send(json.dumps(value).encode())


# --- bodies -----------------------------------------------------------------------------------

MALFORMED_BODIES = {
    "not json": b"{not json",
    "empty": b"",
    "blank": b"   ",
    "truncated": b'{"a": ',
    "trailing garbage": b'{"a": 1} trailing',
    "single quotes": b"{'a': 1}",
    "invalid utf-8": b'{"a": "\xff\xfe"}',
    "lone surrogate": b'{"a": "\\ud800"}',
    "byte order mark": b"\xef\xbb\xbf{}",
    "deeply nested": b"[" * 5000,
}
NON_OBJECTS: dict[str, Any] = {
    "array": [],
    "array of object": [{}],
    "number": 42,
    "string": "text",
    "null": None,
    "true": True,
}


async def test_there_are_json_bodies_and_lists_to_check(client: TestClient[Any, Any]) -> None:
    assert with_body(client), "no JSON endpoint with a body"
    assert paged(client), "no paginated endpoint"


async def test_malformed_json_is_malformed_json(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        for name, raw in MALFORMED_BODIES.items():
            resp = await call.send(raw)
            try:
                await problem(resp, 400, "malformed_json")
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None

    await each(with_body(network.client), check)


async def test_json_that_is_not_an_object_is_invalid(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        for name, value in NON_OBJECTS.items():
            body = await problem(await call.send_json(value), 400, "validation_error")
            assert ["body"] in named_locations(body), name

    await each(with_body(network.client), check)


async def test_an_unknown_field_is_refused_by_name(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        resp = await call.send_json({"surely_not_a_field": 1})
        body = await problem(resp, 400, "validation_error")
        refused = [e for e in body["errors"] if e["location"] == ["body", "surely_not_a_field"]]
        assert refused, body
        assert refused[0]["type"] == "extra_forbidden", refused

    await each(with_body(network.client), check)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def accepted_types(schema: dict[str, Any], defs: dict[str, Any]) -> set[str] | None:
    """The JSON types a field schema admits (None: anything)."""
    schema = _resolve(schema, defs)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            parts = [accepted_types(s, defs) for s in schema[combinator]]
            if any(p is None for p in parts):
                return None
            return set().union(*[p for p in parts if p is not None])
    if "allOf" in schema:
        return accepted_types(schema["allOf"][0], defs)
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    if "const" in schema:
        return {_json_type(schema["const"])}
    kind = schema.get("type")
    if kind is None:
        return None
    kinds = {kind} if isinstance(kind, str) else set(kind)
    return kinds | {"integer"} if "number" in kinds else kinds


# Near misses first (what a sloppy client sends), so a lax model is caught too.
WRONG_FOR: dict[str, Any] = {
    "string": 12345,
    "integer": "12",
    "number": "1.5",
    "boolean": "true",
    "array": "not-a-list",
    "object": "not-an-object",
}
FALLBACKS: tuple[Any, ...] = (12345, "text", [1], {"nested": 1}, True)


def wrong_value(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A JSON value of a type the schema does not admit (None if it admits anything)."""
    accepted = accepted_types(schema, defs)
    if accepted is None:
        return None
    preferred = [WRONG_FOR[t] for t in sorted(accepted - {"null"}) if t in WRONG_FOR]
    for value in [*preferred, *FALLBACKS]:
        if _json_type(value) not in accepted:
            return value
    return None


def wrong_type_cases(model: Any) -> list[tuple[str, Any]]:
    """(field, wrong value) pairs: a wrong type per field, and per item of list fields."""
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    cases: list[tuple[str, Any]] = []
    for name, prop in schema.get("properties", {}).items():
        wrong = wrong_value(prop, defs)
        if wrong is not None:
            cases.append((name, wrong))
        field = _resolve(prop, defs)
        for option in [field, *field.get("anyOf", [])]:
            option = _resolve(option, defs)
            if option.get("type") == "array" and "items" in option:
                item_wrong = wrong_value(option["items"], defs)
                if item_wrong is not None:
                    cases.append((name, [item_wrong]))
    return cases


async def test_a_wrong_type_is_refused_naming_the_field(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        cases = wrong_type_cases(endpoint.body)
        assert cases, "no field to send a wrong type for"
        missed = []
        for name, value in cases:
            body = await problem(await call.send_json({name: value}), 400, "validation_error")
            named = [
                e
                for e in body["errors"]
                if e["location"][:2] == ["body", name]
                and e["type"] not in {"missing", "extra_forbidden"}
            ]
            if not named:
                missed.append((name, value))
        assert not missed, f"wrong types not reported against their field: {missed}"

    await each(with_body(network.client), check)


class _Sample(BaseModel):
    text: str
    count: int | None
    flag: bool
    tags: list[str]
    anything: Any = None


def test_wrong_values_are_chosen_per_json_type() -> None:
    assert wrong_type_cases(_Sample) == [
        ("text", 12345),
        ("count", "12"),
        ("flag", "true"),
        ("tags", "not-a-list"),
        ("tags", [12345]),
    ]


NOT_JSON_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "application/xml",
    "multipart/form-data; boundary=x",
)


async def test_a_body_that_is_not_json_is_unsupported(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        for content_type in NOT_JSON_TYPES:
            await problem(
                await call.send(b"{}", content_type=content_type), 415, "unsupported_media_type"
            )
        # No Content-Type at all.
        await problem(await call.send(None, content_type=None), 415, "unsupported_media_type")

    await each(with_body(network.client), check)


@pytest.fixture
async def small_network(aiohttp_client: Any, settings: Settings) -> Network:
    """The network on an app whose body limit is SMALL_LIMIT bytes."""
    small = settings.with_overrides(max_body_bytes=SMALL_LIMIT)
    client = await aiohttp_client(create_app(small))
    return await build_network(client, small)


def json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    head, tail = b'{"padding": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_body_over_the_limit_is_payload_too_large(small_network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, small_network)
        # Exactly the limit is read (and refused for its content, not its size).
        await problem(await call.send(json_of_size(SMALL_LIMIT)), 400, "validation_error")
        for size in (SMALL_LIMIT + 1, SMALL_LIMIT * 64):
            await problem(await call.send(json_of_size(size)), 413, "payload_too_large")

    await each(with_body(small_network.client), check)


async def test_the_default_limit_is_one_mebibyte(network: Network) -> None:
    limit = network.client.app[keys.SETTINGS].max_body_bytes
    assert limit == 1024 * 1024
    headers = {"Content-Type": "application/json"}
    post = network.client.post
    under = await post("/api/v1/auth/login", data=json_of_size(limit), headers=headers)
    await problem(under, 400, "validation_error")
    over = await post("/api/v1/auth/login", data=json_of_size(limit + 1), headers=headers)
    await problem(over, 413, "payload_too_large")


GZIP_JSON = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


async def test_a_compressed_body_is_limited_by_its_decoded_size(small_network: Network) -> None:
    client = small_network.client
    bomb = gzip.compress(json_of_size(SMALL_LIMIT * 512))
    assert len(bomb) < SMALL_LIMIT
    resp = await client.post("/api/v1/auth/login", data=bomb, headers=GZIP_JSON)
    await problem(resp, 413, "payload_too_large")
    fine = gzip.compress(json.dumps({"username": "admin", "password": PASSWORD}).encode())
    resp = await client.post("/api/v1/auth/login", data=fine, headers=GZIP_JSON)
    assert resp.status == 200, await resp.text()


# name: (Content-Encoding, body, whether the app sees the failure). A stream that ends
# early can fail inside aiohttp's parser, which answers a bare 400 before any handler.
CORRUPT_BODIES = {
    "gzip garbage": ("gzip", b"this is not gzip", True),
    "deflate garbage": ("deflate", b"this is not deflate", True),
    "gzip truncated": ("gzip", gzip.compress(b'{"username": "admin"}')[:-6], False),
    "deflate truncated": ("deflate", zlib.compress(b'{"username": "admin"}')[:5], False),
}


async def test_a_corrupt_compressed_body_is_bad_input(client: TestClient[Any, Any]) -> None:
    failures = []
    for name, (encoding, data, seen_by_app) in CORRUPT_BODIES.items():
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": encoding,
            "Connection": "close",
        }
        resp = await client.post("/api/v1/auth/login", data=data, headers=headers)
        try:
            if seen_by_app:
                await problem(resp, 400)
            else:
                assert resp.status == 400, f"{resp.status}: {await resp.text()}"
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


# --- query strings ----------------------------------------------------------------------------

BAD_LIMITS = [
    "limit=abc",
    "limit=0",
    "limit=-1",
    "limit=201",
    "limit=100000",
    "limit=1.5",
    "limit=",
    "limit=1e3",
    "limit=1&limit=2",
]


async def _with_a_room(net: Network) -> None:
    """patient_self's visit, so that a room's paged log has a real id to page."""
    net.extra_ids["room_id"] = (await book_visit(net))["room_id"]


async def test_a_bad_limit_is_refused(network: Network) -> None:
    await _with_a_room(network)

    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        for query in BAD_LIMITS:
            body = await problem(
                await call.send(content_type=None, query=query), 400, "validation_error"
            )
            assert ["query", "limit"] in named_locations(body), query
        good = await call.send(content_type=None, query="limit=200")
        assert good.status == 200, await good.text()

    await each(paged(network.client), check)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


TAMPERED_CURSORS = {
    "not base64": "not*base64!",
    "short garbage": "abc",
    "base64 of text": base64.urlsafe_b64encode(b"hello world").decode(),
    "base64 of invalid utf-8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    "a number": _cursor(7),
    "an object": _cursor({"at": "2024-01-01T00:00:00+00:00", "id": "x"}),
    "three items": _cursor(["2024-01-01T00:00:00+00:00", "x", "y"]),
    "not a time": _cursor(["yesterday", UNKNOWN_ID]),
    "time as number": _cursor([1700000000, UNKNOWN_ID]),
    "time without offset": _cursor(["2024-01-01T00:00:00", UNKNOWN_ID]),
    "time out of range": _cursor(["9999-12-31T23:59:59-14:00", UNKNOWN_ID]),
    "id with NUL": _cursor(["2024-01-01T00:00:00+00:00", "\u0000"]),
    "too long": "A" * 201,
}


async def test_a_tampered_cursor_is_refused(network: Network) -> None:
    await _with_a_room(network)

    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        wrong = {}
        for name, cursor in TAMPERED_CURSORS.items():
            resp = await call.send(content_type=None, query=f"cursor={cursor}")
            try:
                await problem(resp, 400, "validation_error")
            except AssertionError:
                wrong[name] = resp.status
        assert not wrong, f"tampered cursors not refused with 400: {wrong}"

    await each(paged(network.client), check)


async def test_a_real_cursor_pages_on(network: Network) -> None:
    headers = await network.headers("admin")
    first = await network.client.get("/api/v1/facilities?limit=1", headers=headers)
    page = await first.json()
    assert first.status == 200
    assert page["next"]
    second = await network.client.get(
        "/api/v1/facilities", params={"limit": "1", "cursor": page["next"]}, headers=headers
    )
    assert second.status == 200, await second.text()
    assert (await second.json())["items"][0]["id"] != page["items"][0]["id"]


BAD_QUERY_VALUES = ("surely-not-valid", "-1", "2024-13-45", "x" * 1001)


def bad_query_values(model: type[BaseModel]) -> dict[str, str]:
    """Per query parameter, a value its model refuses for that parameter, where one exists."""
    found = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        for value in BAD_QUERY_VALUES:
            try:
                model.model_validate({key: value})
            except ValidationError as exc:
                if any(e["loc"][:1] == (key,) and e["type"] != "missing" for e in exc.errors()):
                    found[key] = value
                    break
    return found


async def test_a_bad_query_value_is_refused_naming_the_parameter(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        assert endpoint.query is not None
        call = await EndpointCall.to(endpoint, network)
        for key, value in bad_query_values(endpoint.query).items():
            query = urlencode({key: value})
            body = await problem(
                await call.send(content_type=None, query=query), 400, "validation_error"
            )
            assert ["query", key] in [loc[:2] for loc in named_locations(body)], key

    endpoints = [e for e in json_endpoints(network.client) if e.query and e.body is None]
    await each(endpoints, check)


async def test_an_unknown_query_parameter_is_refused(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        call = await EndpointCall.to(endpoint, network)
        resp = await call.send(content_type=None, query="surely_not_a_parameter=1")
        body = await problem(resp, 400, "validation_error")
        assert ["query", "surely_not_a_parameter"] in named_locations(body)

    api = [e for e in json_endpoints(network.client) if e.path.startswith("/api/v1/")]
    # A body is parsed first; endpoints without one show the query check alone.
    await each([e for e in api if e.body is None], check)


# --- paths and methods ------------------------------------------------------------------------

UNKNOWN_PATHS = ("/api/v1/no-such-thing", "/api/v2/me", "/api/nope", "/nope")


async def test_an_unknown_path_is_a_404_problem(network: Network) -> None:
    for headers in ({}, await network.headers("admin")):
        for path in UNKNOWN_PATHS:
            await problem(await network.client.get(path, headers=headers), 404, "not_found")


async def test_a_wrong_method_is_a_405_problem_with_allow(network: Network) -> None:
    endpoints = json_endpoints(network.client)
    admin = await network.headers("admin")
    failures = []
    for path in sorted({e.path for e in endpoints}):
        allowed = {e.method for e in endpoints if e.path == path}
        wrong = next(m for m in METHODS if m not in allowed)
        url = PARAM_RE.sub(UNKNOWN_ID, path)
        for headers in ({}, admin):
            resp = await network.client.request(wrong, url, headers=headers)
            try:
                await problem(resp, 405, "method_not_allowed")
                # RFC 9110 15.5.6: a 405 must say which methods the resource supports.
                listed = {m.strip() for m in resp.headers.get("Allow", "").split(",")}
                assert allowed <= listed, f"Allow: {resp.headers.get('Allow')!r}"
            except AssertionError as exc:
                failures.append(
                    f"{wrong} {path} ({'signed in' if headers else 'anonymous'}): {exc}"
                )
    assert not failures, "\n".join(failures)


# --- credentials ------------------------------------------------------------------------------


async def test_an_anonymous_caller_is_unauthenticated(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        resp = await network.client.request(
            endpoint.method,
            concrete_path(endpoint, network),
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        await problem(resp, 401, "unauthenticated")

    await each([e for e in json_endpoints(network.client) if not e.public], check)


async def test_a_caller_without_the_role_is_forbidden(network: Network) -> None:
    async def check(endpoint: Endpoint) -> None:
        outsider = outsider_for(endpoint)
        assert outsider, "every test user holds one of the roles"
        resp = await network.client.request(
            endpoint.method,
            concrete_path(endpoint, network),
            data=b"{not json",
            headers={"Content-Type": "application/json", **await network.headers(outsider)},
        )
        await problem(resp, 403, "forbidden")

    await each([e for e in json_endpoints(network.client) if e.roles], check)


async def test_a_bad_authorization_header_is_unauthenticated(network: Network) -> None:
    token = (await network.headers("admin"))["Authorization"].split(" ", 1)[1]
    for header in (
        "Basic x",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Bearer",
        "Bearer ",
        "Bearer unknown-token",
        "Token " + token,
        f"Bearer {token}x",
        f"Bearer {token[:-1]}",
        "Bearer " + "A" * 4000,
    ):
        for path in ("/api/v1/me", "/api/v1/facilities"):
            resp = await network.client.get(path, headers={"Authorization": header})
            await problem(resp, 401, "unauthenticated")
    ok = await network.client.get("/api/v1/me", headers={"Authorization": f"bearer {token}"})
    assert ok.status == 200


async def raw_request(
    client: TestClient[Any, Any], head: bytes, body: bytes = b""
) -> tuple[int, bytes]:
    """Send bytes no well-behaved client would (undecodable headers); return status, body."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        length = b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        writer.write(head + length + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


UNDECODABLE_CREDENTIALS = {
    "bearer latin-1": b"Authorization: Bearer \xff\xfe",
    "bearer utf-8": b"Authorization: Bearer caf\xc3\xa9",
    "cookie latin-1": b"Cookie: th_session=\xff\xfe",
}


async def test_undecodable_credentials_are_unauthenticated(network: Network) -> None:
    failures = {}
    for name, header in UNDECODABLE_CREDENTIALS.items():
        head = b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\n" + header
        status, body = await raw_request(network.client, head)
        if status != 401 or json.loads(body)["code"] != "unauthenticated":
            failures[name] = (status, body[:200])
    assert not failures, failures


async def test_an_undecodable_user_agent_does_not_break_sign_in(network: Network) -> None:
    body = json.dumps({"username": "admin", "password": PASSWORD}).encode()
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nUser-Agent: Mozilla \xff\xfe"
    )
    status, answer = await raw_request(network.client, head, body)
    assert status == 200, answer[:300]
    assert json.loads(answer)["access_token"]


UNPARSABLE_REFERERS = ("http://[::1", "http://[bad/", "https://exa mple]:x/")


async def test_an_unparsable_referer_is_refused_as_cross_site(network: Network) -> None:
    failures = []
    for referer in UNPARSABLE_REFERERS:
        resp = await network.client.post(
            "/api/v1/auth/login",
            json={"username": "admin", "password": PASSWORD},
            headers={"Referer": referer},
        )
        try:
            await problem(resp, 403, "csrf_failed")
        except AssertionError as exc:
            failures.append(f"{referer}: {exc}")
    assert not failures, "\n".join(failures)


# --- text the database cannot store, and nulls it must not ------------------------------------


async def test_nul_characters_are_refused_before_the_database(network: Network) -> None:
    client = network.client
    admin = await network.headers("admin")
    register = await client.post(
        "/api/v1/auth/register",
        json={
            "username": "lo.van.nul",
            "password": PASSWORD,
            "full_name": "Lò\u0000Văn",
            "phone": "0912345679",
        },
    )
    await problem(register, 400, "validation_error")
    login = await client.post(
        "/api/v1/auth/login", json={"username": "adm\u0000in", "password": PASSWORD}
    )
    await problem(login, 400, "validation_error")
    for query in ("/api/v1/patients?q=%00", "/api/v1/practitioners?specialty=a%00b"):
        await problem(await client.get(query, headers=admin), 400, "validation_error")
    await problem(await client.get("/api/v1/users/%00", headers=admin), 404, "not_found")


NULLED = (
    ("/api/v1/users/{doctor_a}", "admin", "full_name"),
    ("/api/v1/users/{doctor_a}", "admin", "active"),
    ("/api/v1/me", "doctor_a", "full_name"),
)


async def test_null_for_a_required_value_is_refused_by_name(network: Network) -> None:
    failures = []
    for path, user, field in NULLED:
        url = path.format(doctor_a=network.users["doctor_a"])
        resp = await network.client.patch(
            url, json={field: None}, headers=await network.headers(user)
        )
        try:
            body = await problem(resp, 400, "validation_error")
            assert ["body", field] in named_locations(body), body
        except AssertionError as exc:
            failures.append(f"PATCH {path} {field}=null: {exc}")
    assert not failures, "\n".join(failures)
    me = await network.client.get("/api/v1/me", headers=await network.headers("doctor_a"))
    assert (await me.json())["full_name"] == "Doctor A"


DRAFT_FIELDS = (
    "specialty",
    "urgency",
    "question",
    "summary",
    "patient_present",
    "target_facility_id",
    "target_practitioner_id",
)
AMENDED_FIELDS = ("question", "summary", "urgency", "patient_present")


async def test_null_on_a_consult_is_refused_by_name_or_clears_an_optional_value(
    network: Network,
) -> None:
    """A draft edit or an amendment that sets a field to null: 400 naming the field for
    a value the consult needs, the value cleared for one it may lack; never a 500."""
    draft = await file_consult(network, draft=True)
    submitted = await file_consult(network)
    headers = await network.headers("doctor_a")
    failures = []
    for method, url, body, fields in (
        ("PATCH", f"/api/v1/consults/{draft['id']}", {}, DRAFT_FIELDS),
        ("POST", f"/api/v1/consults/{submitted['id']}/amend", {"note": "x"}, AMENDED_FIELDS),
    ):
        for field in fields:
            resp = await network.client.request(
                method, url, json={**body, field: None}, headers=headers
            )
            try:
                if field.startswith("target_"):
                    assert resp.status == 200, await resp.text()
                    assert (await resp.json())[field] is None
                    continue
                problem_body = await problem(resp, 400, "validation_error")
                assert ["body", field] in named_locations(problem_body), problem_body
            except AssertionError as exc:
                failures.append(f"{method} {url} {field}=null: {exc}")
    assert not failures, "\n".join(failures)


BOUNDARY = "th-boundary"


def multipart_with_header(disposition: bytes) -> bytes:
    """A multipart/form-data body whose one part carries `disposition` as its header."""
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b"Content-Disposition: "
        + disposition
        + b"\r\n\r\nvalue\r\n"
        + f"--{BOUNDARY}--\r\n".encode()
    )


MALFORMED_PART_HEADERS = (
    b'form-data; name="username\x00"',
    b'form-data; name="file\x00"; filename="a.png"',
    b'form-data; name="a\r\n"',
)


async def test_a_malformed_multipart_part_header_is_bad_input(network: Network) -> None:
    """Sign-in, registration and every upload route answer a part header aiohttp cannot
    parse with 400, never a 500."""
    cid = (await file_consult(network))["id"]
    targets = (
        ("/login", None),
        ("/register", None),
        (f"/api/v1/consults/{cid}/attachments", "doctor_a"),
        (f"/consults/{cid}/attachments", "doctor_a"),
    )
    failures = []
    for path, who in targets:
        headers = {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            **network.origin,
        }
        if who is not None:
            headers.update(await network.headers(who))
        for disposition in MALFORMED_PART_HEADERS:
            body = multipart_with_header(disposition)
            resp = await network.client.post(path, data=body, headers=headers)
            if resp.status != 400:
                failures.append(f"{path} {disposition!r}: {resp.status} {await resp.text()}"[:300])
    assert not failures, "\n".join(failures)
