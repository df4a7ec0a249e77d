"""A video visit in headless Chromium, run as a script inside a loopback-only network
namespace (tests/support/netns.py): a patient and a doctor in two browser profiles with fake
cameras and microphones, on the real server (pages, rooms, /rtc signalling) in this process.
The patient waits, the doctor admits, each sees the other's video playing, the patient's
network drops and comes back (reconnect, ICE restart), they chat, the patient switches to
sound only and back, the phone-sized page is photographed, and the
doctor records the outcome, which ends the visit for both.

    python -m tests.browser.call_scenario real <artifacts dir>

Prints one JSON line of results (tests/browser/test_call.py asserts on it)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright

from telehealth.app import create_app
from telehealth.config import Settings
from tests.support import databases
from tests.support.browser import (
    CHROMIUM_ENV,
    DEFAULT_CHROMIUM,
    FAST_PASSWORDS,
    LAUNCH_ARGS,
    SECRET_KEY,
    PageWatch,
    sign_in,
)
from tests.support.network import PASSWORD, build_network
from tests.support.processes import free_port
from tests.support.scheduling import free_slots, open_every_day

MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 360, "height": 740}
# Media can take a while to flow again on a busy 2-core CI machine (ICE restart, decoder
# warm-up); the wait ends as soon as the condition holds.
WAIT_MS = 45_000
CHAT_TEXT = "Chào bác sĩ, tôi nghe rõ."

PLAYBACK = """async (selector) => {
  const video = document.querySelector(selector);
  const frames = () => video.getVideoPlaybackQuality().totalVideoFrames;
  const before = frames();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return {width: video.videoWidth, height: video.videoHeight, before, after: frames(),
          paused: video.paused};
}"""
CALL_STATE = """() => {
  const call = window.telehealthCall;
  return {state: call.state, peers: call.peers, connection: call.connectionStates,
          links: call.links, cap: call.sendingCapKbps, reports: call.reports, errors: call.errors};
}"""


async def playing(page: Page, selector: str) -> dict[str, Any]:
    """Whether a video element shows frames: its size and decoded frames 1.5 s apart."""
    result: dict[str, Any] = await page.evaluate(PLAYBACK, selector)
    result["playing"] = result["width"] > 0 and result["after"] > result["before"]
    return result


async def wait_state(page: Page, state: str) -> None:
    """Wait for the call page's state (window.telehealthCall.state)."""
    await page.wait_for_function(
        "(s) => window.telehealthCall && window.telehealthCall.state === s",
        arg=state,
        timeout=WAIT_MS,
    )


async def wait_remote_video(page: Page) -> dict[str, Any]:
    """Wait until the remote video plays, then measure it."""
    await page.wait_for_function(
        "() => document.querySelector('#remote-video').videoWidth > 0", timeout=WAIT_MS
    )
    return await playing(page, "#remote-video")


async def open_call(browser: Browser, base_url: str, room_id: str, user: str, locale: str) -> Page:
    """A fresh profile signed in as `user`, on the call page."""
    context = await browser.new_context(
        base_url=base_url, locale=locale, timezone_id="Asia/Ho_Chi_Minh", viewport=PHONE
    )
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await sign_in(page, user)
    await page.goto(f"/rooms/{room_id}")
    return page


async def visit(
    browser: Browser, base_url: str, room_id: str, shots: Path, out: dict[str, Any]
) -> None:
    """The visit, step by step; each step's findings go into `out`."""
    watch = PageWatch()
    out["problems"] = watch.problems
    patient = await open_call(browser, base_url, room_id, "patient_self", "vi-VN")
    watch.attach(patient)
    await wait_state(patient, "waiting")
    out["patient_waiting_text"] = await patient.locator("#waiting").inner_text()

    doctor = await open_call(browser, base_url, room_id, "doctor_a", "en-US")
    watch.attach(doctor)
    await wait_state(doctor, "in-call")
    await patient.wait_for_function("() => window.telehealthCall.hostPresent === true")
    out["patient_waiting_with_doctor"] = await patient.locator("#waiting-host").inner_text()
    admit = doctor.locator("[data-testid=admit]")
    await admit.wait_for()
    out["admit_label"] = await admit.inner_text()
    out["waiting_since"] = await doctor.locator("#admit-list .meta").inner_text()
    await admit.click()

    await wait_state(patient, "in-call")
    out["patient_sees"] = await wait_remote_video(patient)
    out["doctor_sees"] = await wait_remote_video(doctor)
    out["patient_link"] = await patient.evaluate(CALL_STATE)
    out["doctor_link"] = await doctor.evaluate(CALL_STATE)

    await reconnect(patient, out)

    await patient.locator("#chat-text").fill(CHAT_TEXT)
    await patient.locator("#chat-form button[type=submit]").click()
    await doctor.locator("#chat-log li", has_text=CHAT_TEXT).wait_for()
    out["chat_seen_by_doctor"] = True

    await patient.locator("#btn-audio-only").click()
    await patient.wait_for_function(
        "() => window.telehealthCall.audioOnly && window.telehealthCall.reports.audio_only >= 1"
    )
    out["audio_only"] = await patient.evaluate(
        """() => ({sent_video_tracks: document.querySelector('#local-video').srcObject
                     .getVideoTracks().length,
                   pressed: document.querySelector('#btn-audio-only').ariaPressed,
                   audio_tracks: document.querySelector('#local-video').srcObject
                     .getAudioTracks().filter((t) => t.readyState === 'live').length})"""
    )
    await doctor.locator("#remote-placeholder").wait_for(state="visible")
    out["doctor_placeholder"] = await doctor.locator("#remote-placeholder").inner_text()
    await patient.locator("#btn-audio-only").click()
    await patient.wait_for_function("() => !window.telehealthCall.audioOnly")
    await doctor.locator("#remote-placeholder").wait_for(state="hidden")
    out["doctor_sees_again"] = await playing(doctor, "#remote-video")

    out["patient_scroll_width"] = await patient.evaluate("document.documentElement.scrollWidth")
    out["small_targets"] = await patient.evaluate(
        """() => [...document.querySelectorAll('#stage button, #chat-form button')]
             .filter((b) => b.offsetParent && b.getBoundingClientRect().height < 44)
             .map((b) => b.id || b.textContent)"""
    )
    await patient.mouse.move(0, 0)
    await patient.evaluate("document.getElementById('call-status').scrollIntoView()")
    shot = shots / "call-360x740.png"
    await patient.screenshot(path=str(shot), full_page=False)
    out["screenshot"] = str(shot)
    out["screenshot_bytes"] = shot.stat().st_size

    await fill_outcome(doctor)
    await doctor.wait_for_function("() => window.telehealthCall.outcomeSaved")
    await wait_state(patient, "ended")
    await wait_state(doctor, "ended")
    out["doctor_outcome_status"] = await doctor.locator("#outcome-status").inner_text()
    out["patient_end_status"] = await patient.locator("#call-status").inner_text()


async def reconnect(patient: Page, out: dict[str, Any]) -> None:
    """The patient's network drops for a moment: the page reconnects, joins again and
    restarts ICE; the video comes back."""
    await patient.context.set_offline(True)
    await wait_state(patient, "reconnecting")
    await patient.context.set_offline(False)
    await wait_state(patient, "in-call")
    await patient.wait_for_function(
        "() => Object.values(window.telehealthCall.links)"
        ".every((link) => link.connection === 'connected')"
    )
    out["after_reconnect"] = await wait_remote_video(patient)
    out["after_reconnect_links"] = await patient.evaluate("() => window.telehealthCall.links")


async def fill_outcome(doctor: Page) -> None:
    """The doctor's outcome form, filled in and sent."""
    await doctor.locator("#o-summary").fill("Viêm họng cấp, không sốt.")
    await doctor.locator("#o-diagnosis-code").fill("j02.9")
    await doctor.locator("#o-diagnosis-text").fill("Viêm họng cấp")
    await doctor.locator("#o-plan").fill("Súc họng nước muối, uống nhiều nước.")
    await doctor.locator("#o-prescriptions").fill("Paracetamol 500 mg, 1 viên khi sốt")
    await doctor.locator("#o-disposition").select_option("follow_up")
    await doctor.locator("#o-follow-up").fill("Tái khám sau 1 tuần")
    await doctor.locator("[data-testid=outcome-submit]").click()


async def drive(base_url: str, room_id: str, shots: Path, out: dict[str, Any]) -> None:
    """Launch Chromium, run the visit; a failure is recorded (with a screenshot), not raised."""
    executable = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS + MEDIA_ARGS
        )
        started = time.monotonic()
        try:
            await visit(browser, base_url, room_id, shots, out)
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            out["traceback"] = traceback.format_exc()[-4000:]
            for index, context in enumerate(browser.contexts):
                for page in context.pages:
                    path = shots / f"failure-{index}.png"
                    await page.screenshot(path=str(path), full_page=True)
                    state = await page.evaluate(CALL_STATE)
                    out.setdefault("pages", []).append({"shot": str(path), "state": state})
        finally:
            out["seconds"] = round(time.monotonic() - started, 1)
            await browser.close()


async def book_checked_in_visit(settings: Settings) -> str:
    """Seed the network, book a video visit with doctor_a starting within five minutes for
    patient_self, check in, and return the visit's room id (its room is open)."""
    async with TestClient(TestServer(create_app(settings))) as client:
        net = await build_network(client, settings)
        pid = await open_every_day(net, "doctor_a", slot_minutes=5)
        slot = (await free_slots(net, pid))[0]["id"]
        headers = await net.headers("patient_self")
        body = {"slot_id": slot, "mode": "video", "reason": "Đau họng ba ngày"}
        resp = await client.post("/api/v1/appointments", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        appointment = await resp.json()
        resp = await client.post(
            f"/api/v1/appointments/{appointment['id']}/check-in", headers=headers
        )
        assert resp.status == 200, await resp.text()
        room_id = appointment["room_id"] or (await resp.json())["room_id"]
        assert room_id, appointment
        return str(room_id)


async def room_record(base_url: str, room_id: str) -> dict[str, Any]:
    """What the server kept of the room: its event kinds, reports and the outcome."""
    async with aiohttp.ClientSession(base_url=base_url) as http:
        login = {"username": "doctor_a", "password": PASSWORD}
        async with http.post("/api/v1/auth/token", json=login) as resp:
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            async with http.get(
                f"/api/v1/rooms/{room_id}/events", params=query, headers=headers
            ) as resp:
                page = await resp.json()
            events += page["items"]
            cursor = page.get("next")
            if not cursor:
                break
        async with http.get(f"/api/v1/rooms/{room_id}/outcome", headers=headers) as resp:
            outcome = await resp.json() if resp.status == 200 else {"status": resp.status}
        async with http.get(f"/api/v1/rooms/{room_id}", headers=headers) as resp:
            room = await resp.json()
    return {"events": events, "outcome": outcome, "room": room}


async def run_real(shots: Path, directory: Path, template: Path) -> dict[str, Any]:
    """The visit against the real server side (telehealth/rooms, telehealth/signalling)."""
    out: dict[str, Any] = {"mode": "real"}
    data_dir = directory / "data"
    data_dir.mkdir()
    (directory / "db").mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=databases.sqlite_copy(template, directory / "db"),
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        passwords=FAST_PASSWORDS,
        public_url=base_url,
    )
    room_id = await book_checked_in_visit(settings)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await drive(base_url, room_id, shots, out)
        record = await room_record(base_url, room_id)
    finally:
        await runner.cleanup()
    events = record["events"]
    out["server"] = {
        "state": record["room"].get("state"),
        "event_kinds": sorted({e["kind"] for e in events}),
        "audio_only_reports": [
            e["details"]
            for e in events
            if e["details"].get("kind") == "audio_only" or e["kind"] == "audio_only"
        ],
        "outcome": record["outcome"],
    }
    return out


def main(argv: list[str]) -> None:
    """Run the scenario named by argv[0] and print its one JSON line."""
    mode, shots = argv[0], Path(argv[1])
    shots.mkdir(parents=True, exist_ok=True)
    if mode != "real":
        raise SystemExit(f"unknown mode {mode!r}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # Migrating runs its own event loop, so it comes before the scenario's.
        template = databases.sqlite_template(directory)
        out = asyncio.run(run_real(shots, directory, template))
    print(json.dumps(out, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
