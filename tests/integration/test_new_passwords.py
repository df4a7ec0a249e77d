"""Every way a password is set refuses common and context-built passwords (ASVS V2.1.7):
self-registration, an admin creating a staff account, a password change, and the forms."""

from __future__ import annotations

import pytest

from tests.support.network import PASSWORD, Network
from tests.support.pages import browse_as, page, submit, with_every_token


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "1234567890", "password12", "ngoc.lan99xy"])
async def test_registration_refuses_a_weak_password(network: Network, password: str) -> None:
    body = {
        "username": "ngoc.lan99",
        "password": password,
        "full_name": "Trần Ngọc Lan",
        "phone": "0912345678",
    }
    resp = await network.client.post("/api/v1/auth/register", json=body, headers=network.origin)
    assert resp.status == 400
    problem = await resp.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["location"] == ["body", "password"]
    login = await network.client.post(
        "/api/v1/auth/token", json={"username": "ngoc.lan99", "password": password}
    )
    assert login.status == 401


async def test_a_staff_password_may_not_be_built_from_the_facility(network: Network) -> None:
    body = {
        "username": "bs.hoa",
        "password": "benhvienhuyenmuongte1",
        "full_name": "Lò Thị Hoa",
        "roles": ["doctor"],
        "facility_id": network.facilities["D1"],
    }
    headers = await network.headers("admin")
    weak = await network.client.post("/api/v1/users", json=body, headers=headers)
    assert weak.status == 400
    body["password"] = "bs.hoa2024!"
    assert (await network.client.post("/api/v1/users", json=body, headers=headers)).status == 400
    body["password"] = "mưa rào trên đồi chè xanh"
    assert (await network.client.post("/api/v1/users", json=body, headers=headers)).status == 201


async def test_a_password_change_refuses_a_weak_password(network: Network) -> None:
    headers = await network.headers("doctor_a")
    resp = await network.client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "doctor_a12"},
        headers=headers,
    )
    assert resp.status == 400
    assert (await network.client.get("/api/v1/me", headers=headers)).status == 200


async def test_the_admin_form_shows_the_weak_password_next_to_its_field(network: Network) -> None:
    await with_every_token(network)
    await browse_as(network, "admin")
    html = await page(network, "/admin/users")
    data = {
        "username": "bs.hoa",
        "password": "1234567890",
        "full_name": "Lò Thị Hoa",
        "roles": "coordinator",
        "facility_id": network.facilities["D1"],
    }
    resp = await submit(network, "/admin/users", html, data)
    assert resp.status == 400
    assert "Mật khẩu này quá dễ đoán" in await resp.text()
