"""A crawl of the pages a signed-in user can reach by following links, at phone size: what
each page measures (width, tap targets) and the text a person sees or hears on it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import Page, ViewportSize

from tests.support import files
from tests.support.browser import LiveServer
from tests.support.consults import CASE

PHONE: ViewportSize = {"width": 360, "height": 740}
# A user of each role in the test network (tests/support/network.py).
CRAWLED_USERS = (
    "patient_self",
    "doctor_a",
    "specialist",
    "coordinator_a",
    "admin",
    "trainer",
    "trainee",
)
# Where a crawl starts: home, then whatever the pages link to; plus pages no link leads to.
CRAWL_START = ["/", "/no-such-page"]
# Links that leave the page set or do something: never followed.
NOT_PAGES = re.compile(r"^/(logout|static/|api/|metrics|health|rtc)|\.(ics|pdf|png|jpg|dcm)$|/raw$")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}")

# Every element a person taps, with a box too small for a finger (WCAG 2.5.5: 44 x 44 CSS
# px). Links inside running text are exempt, as WCAG exempts them.
SMALL_TARGETS = """(min) => {
  const taps = document.querySelectorAll(
    'header a, header button, main button, main .button, .slots a, .actions a, nav a,'
    + ' input[type=submit], summary, .tabs a, .pager a');
  const small = [];
  for (const el of taps) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not shown
    if (box.width < min || box.height < min) {
      const name = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
      const size = `${Math.round(box.width)}x${Math.round(box.height)}`;
      small.push(`${el.tagName.toLowerCase()} "${name.slice(0, 40)}" ${size}`);
    }
  }
  return small;
}"""

# The text of the page in its own language: what is shown, plus the names and hints that
# assistive technology reads out. Parts marked with another language (the switcher's
# "English") are left out.
VISIBLE_TEXT = """() => {
  const own = document.documentElement.lang;
  const body = document.body.cloneNode(true);
  for (const el of body.querySelectorAll('script, style, template')) el.remove();
  for (const el of body.querySelectorAll('[lang]')) if (el.lang !== own) el.remove();
  const said = [document.title];
  for (const el of body.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
    for (const attr of ['aria-label', 'title', 'placeholder', 'alt']) {
      if (el.hasAttribute(attr)) said.push(el.getAttribute(attr));
    }
  }
  document.body.append(body);
  body.style.position = 'absolute';
  said.push(body.innerText);
  body.remove();
  return said.join('\\n');
}"""

# The outermost elements that reach past the right edge (not those inside a box that
# scrolls sideways on purpose, such as a wide table's), to say what makes a page too wide.
OVERFLOWING = """(width) => {
  const found = [];
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right <= width + 0.5) continue;
    let up = el.parentElement, hidden = false;
    while (up && up !== document.body) {
      if (scrolls(up) || up.getBoundingClientRect().right > width + 0.5) { hidden = true; break; }
      up = up.parentElement;
    }
    if (!hidden) {
      const classes = typeof el.className === 'string' ? el.className.split(' ') : [];
      const name = [el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''), ...classes]
        .filter(Boolean).join('.');
      found.push(`${name} to ${Math.round(el.getBoundingClientRect().right)} px`);
    }
  }
  return found.slice(0, 5);
}"""

PAGE_LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"""


@dataclass
class Visit:
    """What one page measured."""

    path: str
    lang: str
    scroll_width: int
    overflowing: list[str]
    small_targets: list[str]
    text: str


@dataclass
class Crawl:
    """The pages one user reached and what they measured."""

    username: str
    visits: list[Visit] = field(default_factory=list)


def pattern(href: str) -> str:
    """A page's kind: its path with ids and dates replaced, and the names of its query."""
    parts = urlsplit(href)
    keys = sorted({kv.split("=")[0] for kv in parts.query.split("&") if kv})
    return _ID.sub("{}", parts.path) + ("?" + "&".join(keys) if keys else "")


async def crawl(page: Page, username: str, start: list[str], limit: int = 40) -> Crawl:
    """Breadth first from `start`, one page of each kind, at most `limit` pages."""
    seen: set[str] = set()
    queue = list(start)
    result = Crawl(username)
    while queue and len(result.visits) < limit:
        href = queue.pop(0)
        kind = pattern(href)
        if kind in seen or NOT_PAGES.search(urlsplit(href).path):
            continue
        seen.add(kind)
        await page.goto(href)  # a server error fails the test through the page watch
        if urlsplit(page.url).path == "/login":
            continue
        result.visits.append(await measure(page, href))
        for link in await page.evaluate(PAGE_LINKS):
            if isinstance(link, str) and link.startswith("/") and not link.startswith("//"):
                queue.append(link)
    return result


async def measure(page: Page, href: str) -> Visit:
    """Width, tap targets and text of the page shown."""
    return Visit(
        path=href,
        lang=await page.evaluate("() => document.documentElement.lang"),
        scroll_width=await page.evaluate("() => document.documentElement.scrollWidth"),
        overflowing=await page.evaluate(OVERFLOWING, PHONE["width"]),
        small_targets=await page.evaluate(SMALL_TARGETS, 44),
        text=await page.evaluate(VISIBLE_TEXT),
    )


async def add_records_to_show(server: LiveServer) -> None:
    """A consult to cardiology with a photo, a PDF and a DICOM image; a visit of the
    self-registered patient booked with doctor_a, and one booked and then cancelled."""
    consult = await server.api(
        "doctor_a",
        "POST",
        "/api/v1/consults",
        {
            "patient_id": server.seed.patients["patient_a"],
            "specialty": "cardiology",
            "urgency": "urgent",
            "question": "Có cần chuyển tuyến chụp mạch vành không?",
            "summary": {**CASE, "vitals": {**CASE["vitals"], "temperature_c": 36.8}},
        },
    )
    for name, data in (("tim.jpg", files.jpeg()), ("ket-qua.pdf", files.pdf())):
        await upload(server, "doctor_a", consult["id"], name, data)
    await upload(server, "doctor_a", consult["id"], "ct.dcm", files.dicom())
    slots = await server.api(
        "patient_self",
        "GET",
        f"/api/v1/slots?practitioner_id={server.seed.practitioners['doctor_a']}&limit=40",
    )
    booked = []
    for slot in slots["items"][20:22]:
        body = {"slot_id": slot["id"], "mode": "video", "reason": "Đau đầu kéo dài"}
        booked.append(await server.api("patient_self", "POST", "/api/v1/appointments", body))
    await server.api(
        "patient_self",
        "POST",
        f"/api/v1/appointments/{booked[1]['id']}/cancel",
        {"reason": "Bận việc nhà"},
    )


async def upload(
    server: LiveServer, username: str, consult_id: str, name: str, data: bytes
) -> None:
    """Attach a file through the JSON API, as the browser's upload does."""
    await server.api(username, "GET", "/api/v1/me")  # fetches the token
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    headers = {"Authorization": f"Bearer {server.tokens[username]}"}
    async with aiohttp.ClientSession(base_url=server.base_url) as http:
        path = f"/api/v1/consults/{consult_id}/attachments"
        async with http.post(path, data=form, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
