"""Server-rendered pages: sign-in, registration, dashboards, administration, CSRF, languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.views.templating import STATIC_DIR
from tests.support.network import PASSWORD, SEED, Network
from tests.support.pages import CSRF_RE, INLINE_SCRIPT_RE, STYLE_RE, origin

COOKIE = "th_session"
PAGES = ["/", "/patients", "/patients/new", "/admin/facilities", "/admin/users"]


async def sign_in(
    client: TestClient[Any, Any], username: str, password: str = PASSWORD, next_: str = "/"
) -> ClientResponse:
    """Submit the sign-in form as a fresh browser (the cookie jar is emptied first)."""
    client.session.cookie_jar.clear()
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": next_},
        headers=origin(client),
        allow_redirects=False,
    )


async def signed_in(client: TestClient[Any, Any], username: str) -> str:
    """Sign in and return the CSRF token printed in the dashboard's forms."""
    resp = await sign_in(client, username)
    assert resp.status == 303, await resp.text()
    page = await client.get("/")
    assert page.status == 200
    match = CSRF_RE.search(await page.text())
    assert match is not None
    return match.group(1)


def session_cookie(client: TestClient[Any, Any]) -> str:
    """The session cookie the browser holds now."""
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value


async def works_on_its_own(client: TestClient[Any, Any], cookie: str) -> bool:
    """Whether an old session cookie still opens the dashboard."""
    client.session.cookie_jar.clear()
    resp = await client.get("/", headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False)
    return resp.status == 200


async def facility_codes(network: Network) -> set[str]:
    """Codes of every facility, read through the service (the browser's jar stays as is)."""
    accounts = network.client.app[keys.ACCOUNTS]
    page = await accounts.list_facilities(s.FacilityQuery(limit=200))
    return {f.code for f in page.items}


async def usernames(network: Network) -> set[str]:
    """Every username, read through the service."""
    page = await network.client.app[keys.ACCOUNTS].list_users(s.UserQuery(limit=200))
    return {u.username for u in page.items}


# --- languages --------------------------------------------------------------------------


async def test_pages_are_vietnamese_by_default(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/login")
    text = await resp.text()
    assert resp.status == 200
    assert '<html lang="vi">' in text
    assert "Đăng nhập" in text
    assert "Tên đăng nhập" in text
    assert resp.headers["Content-Language"] == "vi"


async def test_accept_language_en_gives_english(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    text = await resp.text()
    assert '<html lang="en">' in text
    assert "Sign in" in text
    assert "Đăng nhập" not in text


async def test_lang_query_switches_language_for_that_page(client: TestClient[Any, Any]) -> None:
    text = await (await client.get("/login?lang=en", headers={"Accept-Language": "vi"})).text()
    assert '<html lang="en">' in text
    assert "Username" in text


async def test_user_locale_setting_wins_over_the_browser(network: Network) -> None:
    client = network.client
    resp = await client.patch(
        "/api/v1/me", json={"locale": "en"}, headers=await network.headers("doctor_a")
    )
    assert resp.status == 200
    await signed_in(client, "doctor_a")
    text = await (await client.get("/", headers={"Accept-Language": "vi"})).text()
    assert '<html lang="en">' in text
    assert "My patients" in text
    vietnamese = await (await client.get("/?lang=vi")).text()
    assert "Bệnh nhân của tôi" in vietnamese


async def test_refusal_page_speaks_the_users_language(network: Network) -> None:
    await network.client.patch(
        "/api/v1/me", json={"locale": "en"}, headers=await network.headers("doctor_a")
    )
    await signed_in(network.client, "doctor_a")
    resp = await network.client.get("/admin/users")
    assert resp.status == 403
    assert "Not allowed" in await resp.text()


# --- sign in, sign out -----------------------------------------------------------------


async def test_sign_in_sets_a_cookie_and_lands_on_the_dashboard(network: Network) -> None:
    resp = await sign_in(network.client, "doctor_a")
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    assert resp.cookies[COOKIE].value
    assert resp.cookies[COOKIE]["httponly"]
    page = await network.client.get("/")
    assert page.status == 200
    text = await page.text()
    assert "Doctor A" in text
    assert "Bệnh viện huyện Mường Tè" in text


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/admin/users", "/admin/users"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
async def test_sign_in_goes_only_to_a_local_next(
    network: Network, target: str, landing: str
) -> None:
    resp = await sign_in(network.client, "admin", next_=target)
    assert resp.status == 303
    assert resp.headers["Location"] == landing


async def test_wrong_password_shows_the_form_again_with_401(network: Network) -> None:
    resp = await sign_in(network.client, "doctor_a", password="not the password")
    text = await resp.text()
    assert resp.status == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in text
    assert 'value="doctor_a"' in text
    assert COOKIE not in resp.cookies
    assert (await network.client.get("/", allow_redirects=False)).status == 303


async def test_empty_sign_in_form_is_a_400_not_a_500(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/login", data={}, headers=origin(client))
    assert resp.status == 400
    assert "Nhập tên đăng nhập và mật khẩu." in await resp.text()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"username=\xff\xfe&password=\xff", "application/x-www-form-urlencoded"),
        (b"no boundary", "multipart/form-data"),
    ],
)
async def test_unreadable_form_is_a_400_page(
    client: TestClient[Any, Any], body: bytes, content_type: str
) -> None:
    headers = {**origin(client), "Content-Type": content_type}
    resp = await client.post("/login", data=body, headers=headers)
    assert resp.status == 400
    assert resp.content_type == "text/html"
    assert "Không đọc được dữ liệu biểu mẫu." in await resp.text()


async def test_repeated_failures_give_429_with_retry_after(network: Network) -> None:
    for _ in range(5):
        await sign_in(network.client, "doctor_b", password="wrong password")
    resp = await sign_in(network.client, "doctor_b")
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "Vui lòng đợi" in await resp.text()
    assert COOKIE not in resp.cookies


async def test_logout_ends_the_session(network: Network) -> None:
    client = network.client
    token = await signed_in(client, "coordinator_a")
    cookie = session_cookie(client)
    resp = await client.post(
        "/logout", data={"csrf_token": token}, headers=origin(client), allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/login"
    assert not await works_on_its_own(client, cookie)


async def test_signing_in_as_someone_else_ends_the_previous_session(network: Network) -> None:
    client = network.client
    await signed_in(client, "doctor_a")
    cookie = session_cookie(client)
    resp = await client.post(
        "/login",
        data={"username": "trainer", "password": PASSWORD},
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert session_cookie(client) != cookie
    assert not await works_on_its_own(client, cookie)


async def test_logout_without_the_csrf_token_keeps_the_session(network: Network) -> None:
    client = network.client
    await signed_in(client, "coordinator_a")
    resp = await client.post("/logout", data={}, headers=origin(client), allow_redirects=False)
    assert resp.status == 403
    assert await works_on_its_own(client, session_cookie(client))


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient[Any, Any], path: str
) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/login?next={path}"


ACCESS = {
    "admin": {"/": 200, "/patients": 200, "/admin/facilities": 200, "/admin/users": 200},
    "doctor_a": {"/": 200, "/patients": 200, "/patients/new": 200, "/admin/facilities": 403},
    "specialist": {"/": 200, "/patients": 200, "/admin/users": 403},
    "coordinator_a": {"/": 200, "/patients": 200, "/patients/new": 200, "/admin/users": 403},
    "trainer": {"/": 200, "/patients": 403, "/admin/facilities": 403},
    "trainee": {"/": 200, "/patients/new": 403, "/admin/users": 403},
    "patient_self": {"/": 200, "/patients": 403, "/patients/new": 403, "/admin/users": 403},
}


@pytest.mark.parametrize("username", sorted(ACCESS))
async def test_each_page_is_for_its_roles(network: Network, username: str) -> None:
    await signed_in(network.client, username)
    for path, status in ACCESS[username].items():
        resp = await network.client.get(path, allow_redirects=False)
        assert (path, resp.status) == (path, status)
        assert resp.content_type == "text/html"
        if status == 403:
            assert "Không được phép" in await resp.text()


async def test_dashboard_has_a_section_per_role(network: Network) -> None:
    accounts = network.client.app[keys.ACCOUNTS]
    await accounts.create_user(
        SEED,
        s.UserCreate(
            username="doctor_trainer",
            password=PASSWORD,
            full_name="Bác sĩ Giảng viên",
            roles=[Role.DOCTOR, Role.TRAINER],
            facility_id=network.facilities["C0"],
        ),
    )
    await signed_in(network.client, "doctor_trainer")
    text = await (await network.client.get("/")).text()
    assert 'id="s-clinician"' in text
    assert 'id="s-trainer"' in text
    assert 'id="s-admin"' not in text
    assert 'id="s-patient"' not in text


@pytest.mark.parametrize(
    ("username", "section", "phrase"),
    [
        ("patient_self", "s-patient", 'href="/find"'),
        ("coordinator_a", "s-coordinator", 'href="/patients/new"'),
        ("trainer", "s-trainer", "Giảng dạy"),
        ("trainee", "s-trainee", "Đào tạo"),
        ("admin", "s-admin", 'href="/admin/users"'),
        ("specialist", "s-clinician", "Bệnh viện Trung ương"),
    ],
)
async def test_dashboard_section_of_each_role(
    network: Network, username: str, section: str, phrase: str
) -> None:
    await signed_in(network.client, username)
    text = await (await network.client.get("/")).text()
    assert f'id="{section}"' in text
    assert phrase in text


# --- forms and CSRF ------------------------------------------------------------------------

NEW_FACILITY = {
    "code": "P1",
    "name": "Bệnh viện Đa khoa tỉnh Lai Châu",
    "level": "provincial",
    "province": "Lai Châu",
    "timezone": "Asia/Ho_Chi_Minh",
}


async def test_admin_adds_a_facility_with_the_form(network: Network) -> None:
    token = await signed_in(network.client, "admin")
    resp = await network.client.post(
        "/admin/facilities",
        data={**NEW_FACILITY, "csrf_token": token},
        headers=origin(network.client),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert "P1" in await facility_codes(network)
    listing = await (await network.client.get(resp.headers["Location"])).text()
    assert "Bệnh viện Đa khoa tỉnh Lai Châu" in listing
    assert "Đã thêm cơ sở y tế." in listing


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex-ž"])
async def test_form_without_the_right_csrf_token_is_refused(
    network: Network, token: str | None
) -> None:
    await signed_in(network.client, "admin")
    data = dict(NEW_FACILITY)
    if token is not None:
        data["csrf_token"] = token
    resp = await network.client.post(
        "/admin/facilities", data=data, headers=origin(network.client), allow_redirects=False
    )
    assert resp.status == 403
    assert "csrf_failed" in await resp.text()
    assert "P1" not in await facility_codes(network)


async def test_cookie_form_without_origin_gets_an_html_refusal(network: Network) -> None:
    token = await signed_in(network.client, "admin")
    resp = await network.client.post(
        "/admin/facilities", data={**NEW_FACILITY, "csrf_token": token}, allow_redirects=False
    )
    assert resp.status == 403
    assert resp.content_type == "text/html"
    assert "P1" not in await facility_codes(network)


async def test_duplicate_facility_code_is_shown_on_the_form(network: Network) -> None:
    token = await signed_in(network.client, "admin")
    resp = await network.client.post(
        "/admin/facilities",
        data={**NEW_FACILITY, "code": "D1", "csrf_token": token},
        headers=origin(network.client),
    )
    assert resp.status == 409
    assert "Đã có cơ sở y tế với mã này." in await resp.text()


async def test_admin_creates_a_specialist_with_the_form(network: Network) -> None:
    token = await signed_in(network.client, "admin")
    form = [
        ("csrf_token", token),
        ("username", "bs.lan"),
        ("full_name", "Nguyễn Thị Lan"),
        ("password", "a long enough secret"),
        ("roles", "doctor"),
        ("roles", "specialist"),
        ("facility_id", network.facilities["C0"]),
        ("specialties", "cardiology"),
    ]
    resp = await network.client.post(
        "/admin/users", data=form, headers=origin(network.client), allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    assert "bs.lan" in await usernames(network)
    assert (await sign_in(network.client, "bs.lan", "a long enough secret")).status == 303


async def test_specialist_without_specialty_is_shown_on_the_form(network: Network) -> None:
    token = await signed_in(network.client, "admin")
    form = [
        ("csrf_token", token),
        ("username", "bs.minh"),
        ("full_name", "Trần Văn Minh"),
        ("password", "a long enough secret"),
        ("roles", "specialist"),
        ("facility_id", network.facilities["C0"]),
    ]
    resp = await network.client.post("/admin/users", data=form, headers=origin(network.client))
    text = await resp.text()
    assert resp.status == 400
    assert "Bác sĩ chuyên khoa cần có ít nhất một chuyên khoa." in text
    assert 'value="specialist" checked' in text
    assert "a long enough secret" not in text
    assert "bs.minh" not in await usernames(network)


async def test_coordinator_registers_a_patient_without_a_login(network: Network) -> None:
    token = await signed_in(network.client, "coordinator_a")
    resp = await network.client.post(
        "/patients/new",
        data={
            "csrf_token": token,
            "full_name": "Lò Thị Mai",
            "date_of_birth": "1950-03-04",
            "sex": "female",
            "phone": "0987 654 321",
        },
        headers=origin(network.client),
        allow_redirects=False,
    )
    assert resp.status == 303
    listing = await (await network.client.get("/patients")).text()
    assert "Lò Thị Mai" in listing
    assert "04/03/1950" in listing


async def test_bad_patient_form_is_shown_again_and_saves_nothing(network: Network) -> None:
    token = await signed_in(network.client, "coordinator_a")
    resp = await network.client.post(
        "/patients/new",
        data={"csrf_token": token, "full_name": "Lò Văn Sáng", "national_id": "12345"},
        headers=origin(network.client),
    )
    assert resp.status == 400
    assert "Nhập đủ 12 chữ số" in await resp.text()
    listing = await (await network.client.get("/patients")).text()
    assert "Lò Văn Sáng" not in listing


# --- self-registration ----------------------------------------------------------------------


async def test_registration_leads_to_the_sign_in_page(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/register",
        data={
            "full_name": "Hoàng Văn Nam",
            "phone": "0912 345 679",
            "username": "hoangnam",
            "password": "một mật khẩu dài",
            "lang": "vi",
        },
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/login?registered=1"
    assert COOKIE not in resp.cookies
    notice = await (await client.get(resp.headers["Location"])).text()
    assert "Đã nhận đăng ký" in notice
    signed_in = await client.post(
        "/login",
        data={"username": "hoangnam", "password": "một mật khẩu dài"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert signed_in.status == 303
    text = await (await client.get("/")).text()
    assert 'id="s-patient"' in text
    assert "Hoàng Văn Nam" in text


async def test_registration_bad_input_is_shown_with_400(network: Network) -> None:
    resp = await network.client.post(
        "/register",
        data={
            "full_name": "Hoàng Văn Nam",
            "phone": "12345",
            "username": "hoangnam",
            "password": "short",
        },
        headers=origin(network.client),
    )
    text = await resp.text()
    assert resp.status == 400
    assert "Mật khẩu phải có ít nhất 10 ký tự." in text
    assert "Nhập số điện thoại di động Việt Nam" in text
    assert 'value="Hoàng Văn Nam"' in text
    assert COOKIE not in resp.cookies
    assert "hoangnam" not in await usernames(network)


async def test_registration_with_a_taken_username_looks_like_any_other(network: Network) -> None:
    before = await usernames(network)
    answers = []
    for username, phone in (("patient_self", "0912345670"), ("nguoi.khac", "0912345671")):
        resp = await network.client.post(
            "/register",
            data={
                "full_name": "Người Khác",
                "phone": phone,
                "username": username,
                "password": "một mật khẩu dài",
            },
            headers=origin(network.client),
            allow_redirects=False,
        )
        answers.append((resp.status, resp.headers["Location"], COOKIE in resp.cookies))
    assert answers[0] == answers[1] == (303, "/login?registered=1", False)
    assert await usernames(network) == before | {"nguoi.khac"}


# --- what pages may contain ------------------------------------------------------------------


async def test_pages_have_no_inline_script_or_style_and_stay_small(network: Network) -> None:
    client = network.client
    pages = [await client.get("/login"), await client.get("/register")]
    await signed_in(client, "admin")
    pages += [await client.get(path) for path in PAGES]
    pages.append(await client.get("/no/such/page", headers={"Accept": "text/html"}))
    for resp in pages:
        text = await resp.text()
        assert not INLINE_SCRIPT_RE.search(text), resp.url
        assert not STYLE_RE.search(text), resp.url
        assert "innerHTML" not in text
        assert len(text.encode()) < 100_000
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_stylesheet_is_served_from_static(client: TestClient[Any, Any]) -> None:
    text = await (await client.get("/login")).text()
    match = re.search(r'<link rel="stylesheet" href="([^"]+)">', text)
    assert match is not None
    resp = await client.get(match.group(1))
    assert resp.status == 200
    assert resp.content_type == "text/css"


def test_static_javascript_never_uses_inner_html() -> None:
    for path in Path(STATIC_DIR, "js").rglob("*.js"):
        if "vendor" in path.parts:
            continue
        assert "innerHTML" not in path.read_text(encoding="utf-8"), path


async def test_unknown_page_gets_an_html_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/no/such/page", headers={"Accept": "text/html"})
    assert resp.status == 404
    assert resp.content_type == "text/html"
    assert "Không tìm thấy" in await resp.text()
