"""The HTTP edge: request ids, security headers, metrics, and no tracebacks on errors."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.views.routing import Call, Routes
from tests.support.network import Network


async def test_security_headers_on_pages_api_and_errors(client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/api/v1/me", "/no/such/path"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"


async def test_the_request_id_is_the_servers_own_and_a_clients_is_kept_apart(
    client: TestClient[Any, Any],
) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc12345-req"})
    assert given.headers["X-Request-ID"] != "abc12345-req"
    assert len(given.headers["X-Request-ID"]) == 32
    assert given.headers["X-Client-Request-ID"] == "abc12345-req"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert "X-Client-Request-ID" not in made.headers
    assert len(made.headers["X-Request-ID"]) == 32
    missing = await client.get("/api/v1/me")
    assert (await missing.json())["request_id"] == missing.headers["X-Request-ID"]


async def test_metrics_count_requests_by_route_template(client: TestClient[Any, Any]) -> None:
    for _ in range(3):
        await client.get("/healthz")
    await client.get("/api/v1/patients/some-id")
    text = await (await client.get("/metrics")).text()
    assert 'telehealth_http_requests_total{method="GET",route="/healthz",status="200"} 3.0' in text
    assert 'route="/api/v1/patients/{patient_id}",status="401"' in text
    assert "some-id" not in text
    assert "telehealth_http_request_duration_seconds_bucket" in text


async def test_an_unexpected_error_is_a_bare_500_problem(
    aiohttp_client: Any, settings: Settings
) -> None:
    app = create_app(settings)
    routes = Routes("test")

    @routes.get("/boom", summary="fails", public=True)
    async def boom(call: Call[None, Any]) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    routes.register(app)
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert resp.status == 500
    assert resp.content_type == "application/problem+json"
    body = await resp.text()
    assert "secret internals" not in body
    assert "Traceback" not in body
    assert '"code": "internal_error"' in body


async def test_unknown_path_and_wrong_method_are_problems(client: TestClient[Any, Any]) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["code"] == "not_found"
    wrong = await client.delete("/api/v1/me")
    assert wrong.status == 405
    assert (await wrong.json())["code"] == "method_not_allowed"


async def test_redirects_carry_request_id_and_headers_and_count_as_redirects(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["X-Request-ID"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    text = await (await client.get("/metrics")).text()
    assert 'route="/",status="303"' in text


async def test_every_answer_to_a_signed_in_caller_is_not_stored(network: Network) -> None:
    """Patient data must not stay in a shared computer's cache: JSON, errors and files
    alike say `no-store` to a signed-in caller."""
    headers = await network.headers("doctor_a")
    for path in (
        "/api/v1/me",
        "/api/v1/patients",
        f"/api/v1/patients/{network.patients['patient_a']}",
        "/api/v1/no/such/thing",
        "/api/v1/users",  # 403 for a doctor
    ):
        resp = await network.client.get(path, headers=headers)
        assert "no-store" in resp.headers.get("Cache-Control", ""), (path, resp.status)


async def test_the_server_header_names_no_software_version(client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/no/such/path", "/api/v1/me"):
        resp = await client.get(path)
        server = resp.headers.get("Server", "")
        assert "aiohttp" not in server, server
        assert "Python" not in server, server
