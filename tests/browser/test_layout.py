"""Phone layout: every page each role reaches fits a 360-px screen without sideways
scrolling, in Vietnamese and in English, and everything tapped is at least 44 x 44 px."""

from __future__ import annotations

import pytest

from tests.support.crawl import CRAWLED_USERS, PHONE, Crawl

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("username", CRAWLED_USERS)
async def test_every_page_fits_a_phone(
    crawls: dict[tuple[str, str], Crawl], username: str, lang: str
) -> None:
    visits = crawls[username, lang].visits
    least = 2 if username in ("trainer", "trainee") else 5  # teaching has no pages yet
    assert len(visits) >= least, f"{username} reached only {[v.path for v in visits]}"
    assert {v.lang for v in visits} == {lang}
    too_wide = [
        f"{v.path}: {v.scroll_width} px ({', '.join(v.overflowing)})"
        for v in visits
        if v.scroll_width > PHONE["width"]
    ]
    assert not too_wide, "wider than the screen:\n" + "\n".join(too_wide)


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("username", CRAWLED_USERS)
async def test_tap_targets_are_big_enough(
    crawls: dict[tuple[str, str], Crawl], username: str, lang: str
) -> None:
    small = [f"{v.path}: {t}" for v in crawls[username, lang].visits for t in v.small_targets]
    assert not small, "too small to tap:\n" + "\n".join(small)
