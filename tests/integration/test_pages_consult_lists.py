"""Consult pages as a browser sees them: the queue and my consults with their deadline
countdowns and overdue marks, the figures dashboard with its charts, the navigation and
the consult summary on the home page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import Role
from telehealth.consults.stats import SpecialtyFigures
from telehealth.db.base import utcnow
from telehealth.pages import consult_charts, consult_lists
from telehealth.pages.consult_lists import duration_parts
from tests.integration.test_consult_stats import H, M, consult_at, set_row
from tests.support.consults import act, file_consult
from tests.support.network import PASSWORD, SEED, Network
from tests.support.pages import INLINE_SCRIPT_RE, STYLE_RE, browse_as, page, with_every_token

ROW_RE = re.compile(r'<tr id="consult-([0-9a-f-]+)" class="([^"]*)"[^>]*data-overdue="(\w+)"')
BAR_RE = re.compile(r'<g class="bar" data-specialty="([a-z_]+)">')


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first."""
    return await with_every_token(network)


def rows(html: str) -> dict[str, tuple[str, str]]:
    """(class, data-overdue) of every consult row, by consult id."""
    return {cid: (cls, overdue) for cid, cls, overdue in ROW_RE.findall(html)}


def row_html(html: str, consult_id: str) -> str:
    start = html.index(f'<tr id="consult-{consult_id}"')
    return html[start : html.index("</tr>", start)]


def svg(html: str, chart_id: str) -> str:
    start = html.index(f'<svg id="{chart_id}"')
    return html[start : html.index("</svg>", start)]


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "parts"),
    [
        (0, [("s", 0)]),
        (45.9, [("s", 45)]),
        (60, [("min", 1)]),
        (750, [("min", 12), ("s", 30)]),
        (3 * 3600 + 12 * 60 + 59, [("h", 3), ("min", 12)]),
        (86400, [("d", 1)]),
        (2 * 86400 + 4 * 3600, [("d", 2), ("h", 4)]),
    ],
)
def test_durations_show_their_two_largest_units(
    seconds: float, parts: list[tuple[str, int]]
) -> None:
    assert duration_parts(seconds) == parts


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(0, [0, 1]), (1, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (45, [0, 20, 40, 60])],
)
def test_request_counts_get_whole_number_ticks(top: int, ticks: list[int]) -> None:
    assert consult_charts.count_ticks(top) == ticks


def figures(code: str, median: float | None) -> SpecialtyFigures:
    answered = 0 if median is None else 1
    return SpecialtyFigures(
        specialty=code,
        submitted=1,
        answered=answered,
        open=1 - answered,
        overdue=0,
        closed=0,
        answered_in_time=answered,
        median_minutes_to_answer=median,
        answered_in_time_share=None if median is None else 1.0,
    )


def test_median_chart_reaches_the_first_deadline_above_the_slowest_answer() -> None:
    deadlines = {"routine": 72 * H, "urgent": 24 * H, "emergency": H}
    chart = consult_charts.median_chart(
        [figures("cardiology", 180.0), figures("neurology", None)], {}, deadlines
    )
    assert [m.name for m in chart.marks] == ["emergency", "urgent"]
    assert chart.marks[-1].x == chart.plot_right  # 24 h spans the plot
    cardiology, neurology = chart.bars
    assert cardiology.segments[0].width == pytest.approx(
        (chart.plot_right - chart.plot_left) * 180 / (24 * 60), abs=0.2
    )
    assert neurology.segments == []
    assert neurology.value is None
    slow = consult_charts.median_chart([figures("cardiology", 100 * 60.0)], {}, deadlines)
    assert [m.name for m in slow.marks] == ["emergency", "urgent", "routine"]
    assert slow.bars[0].value_x == slow.plot_right  # slower than every deadline
    # On a 1000 h scale the three deadlines crowd the left edge: one label is written.
    crowded = consult_charts.median_chart([figures("cardiology", 60_000.0)], {}, deadlines)
    assert [m.labelled for m in crowded.marks] == [True, False, False]


# --- the lists ----------------------------------------------------------------------------


async def test_specialist_queue_shows_the_countdown_and_the_overdue_mark(
    network: Network,
) -> None:
    fresh = (await file_consult(network, urgency="urgent"))["id"]
    late = (await file_consult(network))["id"]
    submitted = utcnow() - 80 * H
    await set_row(network, late, submitted_at=submitted, due_at=submitted + 72 * H)
    await browse_as(network, "specialist")
    html = await page(network, "/consults?lang=en")

    listed = rows(html)
    assert list(listed) == [late, fresh]  # nearest deadline first
    assert listed[late] == ("consult-row is-overdue", "true")
    assert listed[fresh] == ("consult-row", "false")
    overdue_row = row_html(html, late)
    assert re.search(
        r'<time class="countdown" datetime="[^"]+" data-due>overdue by 8 h', overdue_row
    )
    assert re.search(r"<strong class=\"badge overdue-badge\" data-overdue-badge>", overdue_row)
    assert ">Overdue</strong>" in overdue_row
    fresh_row = row_html(html, fresh)
    assert re.search(r"data-due>23 h 59 min left</time>|data-due>23 h 5\d min left", fresh_row)
    assert "data-overdue-badge hidden" in fresh_row
    assert "Bệnh nhân patient_a" in fresh_row  # the queue's specialists are parties
    assert 'id="consult-table"' in html
    assert "data-countdown=" in html
    assert 'src="/static/js/countdown.js' in html


async def test_a_request_waiting_on_its_requester_shows_a_paused_deadline(
    network: Network,
) -> None:
    cid = (await file_consult(network, urgency="urgent"))["id"]
    await act(network, "specialist", cid, "accept")
    await act(network, "specialist", cid, "request-info", {"question": "Cân nặng?"})
    await set_row(network, cid, due_at=utcnow() - H)  # past it, but the clock is stopped
    await browse_as(network, "specialist")
    html = await page(network, "/consults?lang=en")
    assert rows(html)[cid] == ("consult-row", "false")
    paused_row = row_html(html, cid)
    assert "data-paused>Paused: waiting for the requester</span>" in paused_row
    assert "data-due" not in paused_row  # no countdown for countdown.js to run
    shown = await page(network, f"/consults/{cid}?lang=en")
    assert 'class="paused" data-paused>(paused while the request waits' in shown
    assert "data-remaining" not in shown


async def test_countdown_words_follow_the_page_language(network: Network) -> None:
    await file_consult(network)
    await browse_as(network, "specialist")
    html = await page(network, "/consults?lang=en")
    match = re.search(r"data-countdown='([^']+)'", html)
    assert match is not None
    assert '"left": "%(time)s left"' in match.group(1).replace("&#34;", '"')


async def test_specialist_sees_what_they_accepted_under_mine(network: Network) -> None:
    waiting = (await file_consult(network))["id"]
    taken = (await file_consult(network))["id"]
    resp = await network.client.post(
        f"/api/v1/consults/{taken}/accept", headers=await network.headers("specialist")
    )
    assert resp.status == 200
    await browse_as(network, "specialist")
    mine = await page(network, "/consults?view=mine")
    assert set(rows(mine)) == {taken}
    queue = await page(network, "/consults?view=queue&status=submitted")
    assert set(rows(queue)) == {waiting}
    assert 'data-view="queue" aria-current="page"' in queue


async def test_doctor_lists_their_requests_with_filters_and_pages(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consult_lists, "PAGE_SIZE", 2)
    filed = [(await file_consult(network))["id"] for _ in range(3)]
    draft = (await file_consult(network, draft=True))["id"]
    await browse_as(network, "doctor_a")
    first = await page(network, "/consults")
    assert list(rows(first)) == filed[:2]
    assert 'id="consult-new-link" href="/consults/new"' in first
    assert 'id="consult-tabs"' not in first  # a doctor has one list
    next_link = re.search(r'id="consult-next" href="([^"]+)"', first)
    assert next_link is not None
    second = await page(network, next_link.group(1).replace("&amp;", "&"))
    assert list(rows(second)) == [filed[2], draft]
    drafts = await page(network, "/consults?status=draft")
    assert list(rows(drafts)) == [draft]
    assert "data-due" not in row_html(drafts, draft)  # a draft has no deadline yet


async def test_a_doctor_of_another_facility_sees_none_of_it(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await browse_as(network, "doctor_b")
    html = await page(network, "/consults")
    assert cid not in html
    assert 'id="consult-empty"' in html


async def test_admin_sees_metadata_without_the_patient(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await browse_as(network, "admin")
    html = await page(network, "/consults")
    assert cid in rows(html)
    assert "Bệnh nhân patient_a" not in html
    assert "chụp mạch vành" not in html
    assert f'href="/consults/{cid}"' in html


@pytest.mark.parametrize(
    ("username", "status"),
    [("trainer", 403), ("trainee", 403), ("patient_self", 403), ("coordinator_a", 403)],
)
async def test_strangers_are_refused_the_lists_and_the_figures(
    network: Network, username: str, status: int
) -> None:
    await browse_as(network, username)
    for path in ("/consults", "/consults/dashboard"):
        html = await page(network, path, status)
        assert "Không được phép" in html


async def test_anonymous_visitors_are_sent_to_sign_in(network: Network) -> None:
    network.client.session.cookie_jar.clear()
    for path in ("/consults", "/consults/dashboard?from=2025-01-01"):
        resp = await network.client.get(path, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"].startswith("/login?next=/consults")


async def test_a_bad_status_filter_is_a_400_page(network: Network) -> None:
    await browse_as(network, "doctor_a")
    await page(network, "/consults?status=lost", 400)
    await page(network, "/consults?cursor=not-a-cursor", 400)


# --- the figures dashboard ------------------------------------------------------------------


async def test_dashboard_draws_one_bar_per_specialty_and_the_same_table(
    network: Network,
) -> None:
    now = utcnow()
    await consult_at(network, "cardiology", now - 50 * H, 72 * H, "answered", 90 * M)
    await consult_at(network, "cardiology", now - 80 * H, 72 * H, "accepted")
    await consult_at(network, "dermatology", now - 30 * H, 24 * H, "answered", 30 * H)
    await consult_at(network, "neurology", now - 2 * H, 24 * H, "submitted")
    await browse_as(network, "specialist")
    html = await page(network, "/consults/dashboard?lang=en")

    requests = svg(html, "chart-requests")
    assert BAR_RE.findall(requests) == ["cardiology", "dermatology", "neurology"]
    assert '<title id="chart-requests-title">' in requests
    assert '<desc id="chart-requests-desc">' in requests
    assert 'role="img"' in requests
    assert requests.count('class="seg overdue"') == 1
    median = svg(html, "chart-median")
    assert len(BAR_RE.findall(median)) == 3
    assert median.count('class="seg median"') == 2  # neurology has no answer yet
    assert 'data-urgency="urgent"' in median  # the 24 h deadline mark
    in_time = svg(html, "chart-in-time")
    assert len(BAR_RE.findall(in_time)) == 3
    assert ">100%</text>" in in_time
    assert ">0%</text>" in in_time

    table = html[html.index('id="figures-table"') :]
    cardiology = table[table.index('data-specialty="cardiology"') :]
    assert '<td data-figure="submitted">2</td>' in cardiology
    assert '<td data-figure="overdue">1</td>' in cardiology
    assert '<td data-figure="median">1 h 30 min</td>' in cardiology
    assert "Figures per specialty" in table


async def test_dashboard_period_picker_and_its_errors(network: Network) -> None:
    await file_consult(network)
    await browse_as(network, "admin")
    html = await page(network, "/consults/dashboard")
    assert 'id="f-from"' in html
    assert 'id="f-to"' in html
    assert 'id="f-facility_id"' in html
    assert network.facilities["C0"] in html  # the central hospital is offered
    assert network.facilities["D1"] not in html  # a district one is not
    assert BAR_RE.findall(svg(html, "chart-requests")) == ["cardiology"]

    old = await page(network, "/consults/dashboard?from=2020-01-01&to=2020-01-31")
    assert 'id="figures-empty"' in old
    backwards = await page(network, "/consults/dashboard?from=2025-02-01&to=2025-01-01", 400)
    assert 'role="alert"' in backwards
    assert 'value="2025-02-01"' in backwards
    assert "<svg" not in backwards
    too_long = await page(network, "/consults/dashboard?from=2020-01-01&to=2025-01-01", 400)
    assert 'role="alert"' in too_long
    unknown = "00000000-0000-4000-8000-000000000000"
    await page(network, f"/consults/dashboard?facility_id={unknown}", 400)
    await page(network, "/consults/dashboard?to=9999-12-31", 400)


async def test_only_specialists_of_central_hospitals_see_the_figures(network: Network) -> None:
    await network.client.app[keys.ACCOUNTS].create_user(
        SEED,
        accounts_schemas.UserCreate(
            username="district_specialist",
            password=PASSWORD,
            full_name="Chuyên khoa Huyện",
            roles=[Role.SPECIALIST],
            facility_id=network.facilities["D1"],
            specialties=["cardiology"],
        ),
    )
    await browse_as(network, "district_specialist")
    await page(network, "/consults/dashboard", 403)
    await page(network, "/consults")
    await browse_as(network, "doctor_a")
    await page(network, "/consults/dashboard", 403)


# --- navigation and the home page -----------------------------------------------------------

NAV = {
    "doctor_a": {"/consults": True, "/consults/new": True, "/consults/dashboard": False},
    "specialist": {"/consults": True, "/consults/new": False, "/consults/dashboard": True},
    "admin": {"/consults/dashboard": True, "/admin/on-call": True, "/consults/new": False},
    "coordinator_a": {"/consults": False, "/admin/on-call": False},
    "patient_self": {"/consults": False, "/consults/dashboard": False},
}


@pytest.mark.parametrize("username", sorted(NAV))
async def test_the_menu_links_each_role_to_its_consult_pages(
    network: Network, username: str
) -> None:
    await browse_as(network, username)
    html = await page(network, "/")
    menu = html[html.index("<nav") : html.index("</nav>")]
    for href, shown in NAV[username].items():
        assert (f'href="{href}"' in menu) is shown, href


async def test_home_page_counts_the_specialists_queue(network: Network) -> None:
    await file_consult(network)
    late = (await file_consult(network))["id"]
    await set_row(network, late, due_at=utcnow() - M)
    await file_consult(network, specialty="dermatology")  # another specialty's queue
    await browse_as(network, "specialist")
    html = await page(network, "/")
    assert 'id="consult-summary"' in html
    assert re.search(r'data-count="queue">2</a>', html)
    assert re.search(r'data-count="queue-overdue">.*1', html)


async def test_home_page_counts_the_doctors_requests(network: Network) -> None:
    open_one = (await file_consult(network))["id"]
    answered = (await file_consult(network))["id"]
    await set_row(network, answered, status="answered", answered_at=utcnow() - H)
    await file_consult(network, draft=True)
    assert open_one
    await browse_as(network, "doctor_a")
    html = await page(network, "/")
    assert 'data-count="open-requests">1</a>' in html
    assert 'data-count="recently-answered">1</a>' in html
    assert 'data-count="drafts">1</a>' in html
    assert 'data-count="queue"' not in html


# --- what the pages may contain -------------------------------------------------------------


async def test_consult_pages_have_no_inline_script_or_style(network: Network) -> None:
    await file_consult(network)
    pages: list[Any] = []
    for who, path in [
        ("specialist", "/consults"),
        ("specialist", "/consults/dashboard"),
        ("doctor_a", "/consults"),
        ("doctor_a", "/"),
        ("admin", "/consults/dashboard"),
    ]:
        await browse_as(network, who)
        pages.append(await network.client.get(path))
    for resp in pages:
        text = await resp.text()
        assert resp.status == 200, resp.url
        assert not INLINE_SCRIPT_RE.search(text), resp.url
        assert not STYLE_RE.search(text), resp.url
        assert len(text.encode()) < 100_000
    script = await network.client.get("/static/js/countdown.js")
    assert script.status == 200
    assert "textContent" in await script.text()


async def test_the_queue_page_goes_on_to_the_next_deadlines(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consult_lists, "QUEUE_SIZE", 2)
    ids = [(await file_consult(network))["id"] for _ in range(3)]
    await browse_as(network, "specialist")
    first = await page(network, "/consults?view=queue")
    link = re.search(r'id="consult-next" href="([^"]+)"', first)
    assert link is not None
    second = await page(network, link.group(1).replace("&amp;", "&"))
    shown = [*rows(first), *rows(second)]
    assert shown == ids  # filed in turn, due in turn
    assert 'id="consult-next"' not in second
