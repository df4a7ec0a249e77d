"""Consult attachments over the API: JPEG, PNG, PDF and DICOM uploads, downloads with
their headers, storage by digest, and every way an upload can go wrong leaving nothing
behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np
import pytest
from aiohttp import ClientResponse
from PIL import Image
from sqlalchemy import select

from telehealth import keys
from telehealth.app import create_app
from telehealth.auth.models import AuditEvent
from telehealth.config import Settings
from telehealth.consults.attachment_views import MULTIPART_SLACK
from telehealth.consults.inspection import SNIFF_BYTES
from telehealth.consults.models import ConsultAttachment
from tests.support import files
from tests.support.consults import act, file_consult
from tests.support.network import Network, build_network

URL = "/api/v1/consults/{cid}/attachments"
VIETNAMESE_NAME = "Phim X-quang phổi – Nguyễn Văn Ảnh.jpg"
SMALL_LIMIT = 4096


async def upload(
    net: Network,
    cid: str,
    data: bytes,
    filename: str = "file.bin",
    *,
    who: str = "doctor_a",
    browser_style: bool = False,
) -> ClientResponse:
    """POST one file as the part `file`. aiohttp percent-encodes non-ASCII names; a
    browser sends them as raw UTF-8 (`browser_style`)."""
    form = aiohttp.FormData(quote_fields=not browser_style)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await net.client.post(URL.format(cid=cid), data=form, headers=await net.headers(who))


async def uploaded(net: Network, cid: str, data: bytes, filename: str) -> dict[str, Any]:
    resp = await upload(net, cid, data, filename)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def get(net: Network, url: str, who: str = "doctor_a", **headers: str) -> ClientResponse:
    return await net.client.get(url, headers={**await net.headers(who), **headers})


def stored(settings: Settings) -> list[Path]:
    """Every file under the attachment store (relative to it), temporary ones included."""
    root = settings.data_dir / "attachments"
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


async def rows(net: Network) -> list[ConsultAttachment]:
    async with net.client.app[keys.SESSIONMAKER]() as session:
        return list((await session.scalars(select(ConsultAttachment))).all())


async def problem(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    body = await resp.text()
    assert resp.status == status, body
    assert resp.content_type == "application/problem+json", body
    parsed = dict(await resp.json())
    assert parsed["code"] == code, parsed
    return parsed


def png_of(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img


# -- uploads that work ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "content_type", "kind", "meta", "preview_size"),
    [
        (
            files.jpeg(40, 30),
            "anh-da.jpg",
            "image/jpeg",
            "image",
            {"width": 40, "height": 30},
            (40, 30),
        ),
        (
            files.png(1024, 256),
            "ecg.png",
            "image/png",
            "image",
            {"width": 1024, "height": 256},
            (512, 128),
        ),
        (files.pdf(), "xet-nghiem.pdf", "application/pdf", "pdf", {"version": "1.4"}, None),
    ],
)
async def test_images_and_pdfs_are_kept_with_what_was_read_from_them(
    network: Network,
    settings: Settings,
    data: bytes,
    name: str,
    content_type: str,
    kind: str,
    meta: dict[str, Any],
    preview_size: tuple[int, int] | None,
) -> None:
    cid = (await file_consult(network))["id"]
    out = await uploaded(network, cid, data, name)
    assert out["filename"] == name
    assert (out["content_type"], out["kind"], out["meta"]) == (content_type, kind, meta)
    assert out["size"] == len(data)
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert out["uploaded_by"] == {"id": network.users["doctor_a"], "name": "Doctor A"}
    assert out["download_url"] == f"{URL.format(cid=cid)}/{out['id']}"
    assert (
        settings.data_dir / "attachments" / out["sha256"][:2] / out["sha256"]
    ).read_bytes() == data

    download = await get(network, out["download_url"])
    assert download.status == 200
    assert await download.read() == data
    assert download.headers["Content-Type"] == content_type

    preview = await get(network, out["download_url"] + "/preview")
    if preview_size is None:
        assert out["has_preview"] is False
        assert out["preview_url"] is None
        await problem(preview, 404, "not_found")
    else:
        assert out["has_preview"] is True
        assert out["preview_url"] == out["download_url"] + "/preview"
        assert preview.status == 200
        assert png_of(await preview.read()).size == preview_size


async def test_dicom_metadata_is_read_and_the_preview_is_windowed(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    data = files.dicom(300, 600, modality="CT", study_date="20240315", body_part="CHEST")
    out = await uploaded(network, cid, data, "ct-nguc.dcm")
    assert (out["kind"], out["content_type"], out["has_preview"]) == (
        "dicom",
        "application/dicom",
        True,
    )
    assert out["meta"] == {
        "modality": "CT",
        "study_date": "2024-03-15",
        "body_part": "CHEST",
        "rows": 300,
        "columns": 600,
        "frames": 1,
    }
    preview = await get(network, out["preview_url"])
    assert preview.status == 200
    assert preview.headers["Content-Type"] == "image/png"
    img = png_of(await preview.read())
    assert (img.size, img.mode) == ((512, 256), "L")
    pixels = np.asarray(img)
    # The ramp runs -1024..3071 HU; the 40/400 window shows -160..240 HU, so the left
    # edge is below it (black), the right edge above it (white), the middle grey.
    assert pixels[:, 0].max() == 0
    assert pixels[:, -1].min() == 255
    row = pixels[128].astype(int)
    assert (np.diff(row) >= 0).all()
    # 400 of the 4096 raw values over 512 columns: about 50 columns of grey.
    assert 40 < ((row > 0) & (row < 255)).sum() < 60


async def test_a_monochrome1_dicom_is_shown_inverted(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    out = await uploaded(network, cid, files.dicom(32, 64, monochrome="MONOCHROME1"), "cr.dcm")
    img = png_of(await (await get(network, out["preview_url"])).read())
    assert img.size == (64, 32)
    assert np.asarray(img)[:, 0].min() == 255


async def test_compressed_multiframe_dicom_previews_its_first_frame(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    out = await uploaded(network, cid, files.dicom(48, 64, frames=3, rle=True), "us.dcm")
    assert (out["meta"]["frames"], out["meta"]["rows"], out["meta"]["columns"]) == (3, 48, 64)
    img = png_of(await (await get(network, out["preview_url"])).read())
    assert img.size == (64, 48)


# -- downloads ---------------------------------------------------------------------------


@pytest.mark.parametrize("browser_style", [True, False], ids=["raw-utf8", "percent-encoded"])
async def test_a_download_carries_the_vietnamese_name_and_safe_headers(
    network: Network, browser_style: bool
) -> None:
    cid = (await file_consult(network))["id"]
    data = files.jpeg()
    resp = await upload(network, cid, data, VIETNAMESE_NAME, browser_style=browser_style)
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["filename"] == VIETNAMESE_NAME

    download = await get(network, out["download_url"])
    assert download.status == 200
    assert await download.read() == data
    headers = download.headers
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["Content-Length"] == str(len(data))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"].split(",")[0] == "private"
    assert headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    disposition = headers["Content-Disposition"]
    assert disposition == (
        'attachment; filename="Phim X-quang phoi _ Nguyen Van Anh.jpg"; '
        f"filename*=UTF-8''{quote(VIETNAMESE_NAME, safe='')}"
    )
    assert download.content_disposition is not None
    assert download.content_disposition.filename == VIETNAMESE_NAME

    # Saved, the file gets the site-wide policy; shown, one its viewer can work under.
    assert "object-src 'none'" in headers["Content-Security-Policy"]
    inline = await get(network, out["download_url"] + "?inline=true")
    assert inline.headers["Content-Disposition"].startswith("inline; ")
    assert inline.headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert "frame-ancestors 'self'" in inline.headers["Content-Security-Policy"]
    assert inline.headers["X-Frame-Options"] == "SAMEORIGIN"
    for tag, status in [(headers["ETag"], 304), ("W/" + headers["ETag"], 304), ("*", 304)]:
        again = await get(network, out["download_url"], **{"If-None-Match": tag})
        assert again.status == status, tag
        assert await again.read() == b""
        assert again.headers["ETag"] == headers["ETag"]
    for tag in ('"other"', "garbage", '"' + "x" * 5000):
        fresh = await get(network, out["download_url"], **{"If-None-Match": tag})
        assert fresh.status == 200, tag
        assert await fresh.read() == data


async def test_a_download_is_audited_as_a_clinical_read(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    out = await uploaded(network, cid, files.png(), "x.png")
    await get(network, out["download_url"])
    await get(network, out["preview_url"])
    async with network.client.app[keys.SESSIONMAKER]() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like("consult.attachment%"))
                .order_by(AuditEvent.at)
            )
        ).all()
    assert [(e.action, e.object_id, e.actor_id) for e in events] == [
        ("consult.attachment_add", cid, network.users["doctor_a"]),
        ("consult.attachment_read", cid, network.users["doctor_a"]),
        ("consult.attachment_read", cid, network.users["doctor_a"]),
    ]
    assert [e.details.get("preview") for e in events[1:]] == [False, True]
    assert all(e.details["attachment_id"] == out["id"] for e in events)


async def test_the_same_content_is_stored_once(network: Network, settings: Settings) -> None:
    first, second = (await file_consult(network))["id"], (await file_consult(network))["id"]
    data = files.jpeg()
    a = await uploaded(network, first, data, "a.jpg")
    b = await uploaded(network, second, data, "b.jpg")
    assert a["id"] != b["id"]
    assert a["sha256"] == b["sha256"]
    preview = await (await get(network, b["preview_url"])).read()
    thumbnail = await (await get(network, b["thumbnail_url"])).read()
    # The original, its preview and its thumbnail, each once, under their digests; nothing
    # in tmp/.
    digests = {a["sha256"], *(hashlib.sha256(d).hexdigest() for d in (preview, thumbnail))}
    assert set(stored(settings)) == {Path(d[:2], d) for d in digests}


async def test_the_list_is_oldest_first_and_the_timeline_shows_each_file(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    names = ["1.jpg", "2.png", "3.pdf"]
    ids = [
        (await uploaded(network, cid, data, name))["id"]
        for data, name in zip([files.jpeg(), files.png(), files.pdf()], names, strict=True)
    ]
    listed = await (await get(network, URL.format(cid=cid))).json()
    assert [a["id"] for a in listed] == ids
    assert [a["filename"] for a in listed] == names
    assert listed[0]["uploaded_by"]["name"] == "Doctor A"
    timeline = await (await get(network, f"/api/v1/consults/{cid}/timeline")).json()
    added = [e for e in timeline["items"] if e["kind"] == "attachment_added"]
    assert [e["data"] for e in added] == [
        {"attachment_id": i, "filename": n, "kind": k}
        for i, n, k in zip(ids, names, ["image", "image", "pdf"], strict=True)
    ]
    assert added[0]["actor"]["id"] == network.users["doctor_a"]


async def test_a_file_whose_name_lies_keeps_a_name_that_fits_its_content(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    out = await uploaded(network, cid, files.png(), "C:\\Users\\bs\\..\\kết quả\u202egpj.exe")
    assert out["filename"] == "kết quảgpj.exe.png"
    assert out["content_type"] == "image/png"


# -- who may attach ----------------------------------------------------------------------


async def test_an_assigned_specialist_may_attach_but_not_before_accepting(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    await problem(await upload(network, cid, files.png(), who="specialist"), 403, "forbidden")
    assert (await act(network, "specialist", cid, "accept")).status == 200
    resp = await upload(network, cid, files.png(), "ecg.png", who="specialist")
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["uploaded_by"]["name"] == "Specialist"


async def test_drafts_take_files_and_cancelled_consults_do_not(network: Network) -> None:
    cid = (await file_consult(network, draft=True))["id"]
    assert (await upload(network, cid, files.png())).status == 201
    cancelled = await act(network, "doctor_a", cid, "cancel", {"reason": "Nhầm bệnh nhân"})
    assert cancelled.status == 200
    await problem(await upload(network, cid, files.png()), 409, "invalid_transition")


# -- uploads that fail, leaving nothing behind -------------------------------------------


@pytest.fixture
async def small_network(aiohttp_client: Any, settings: Settings) -> Network:
    """The network on an app whose attachment limit is SMALL_LIMIT bytes."""
    small = settings.with_overrides(
        consults=replace(settings.consults, attachment_max_bytes=SMALL_LIMIT)
    )
    client = await aiohttp_client(create_app(small))
    return await build_network(client, small)


@pytest.mark.parametrize("size", [SMALL_LIMIT + 1, SMALL_LIMIT + 2 * MULTIPART_SLACK])
async def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(
    small_network: Network, settings: Settings, size: int
) -> None:
    cid = (await file_consult(small_network))["id"]
    exact = b"\xff\xd8\xff" + b"\0" * (SMALL_LIMIT - 3)
    # Exactly the limit is read in full (and refused for its content, not its size).
    await problem(await upload(small_network, cid, exact, "x.jpg"), 422, "invalid_file")
    body = await problem(
        await upload(small_network, cid, b"\xff\xd8\xff" + b"\0" * (size - 3), "x.jpg"),
        413,
        "payload_too_large",
    )
    assert str(SMALL_LIMIT) in body["detail"]
    assert stored(settings) == []
    assert await rows(small_network) == []


async def test_a_body_declared_too_large_is_refused_before_it_is_sent(
    small_network: Network, settings: Settings
) -> None:
    """Only the headers arrive: an answer proves the server did not wait for the body."""
    cid = (await file_consult(small_network))["id"]
    token = (await small_network.headers("doctor_a"))["Authorization"]
    head = (
        f"POST {URL.format(cid=cid)} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {10 * 1024**3}\r\n\r\n"
    ).encode()
    client = small_network.client
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"413", status_line
    assert stored(settings) == []


async def test_a_program_renamed_jpg_is_unsupported(network: Network, settings: Settings) -> None:
    cid = (await file_consult(network))["id"]
    body = await problem(
        await upload(network, cid, files.executable(), "anh.jpg"), 415, "unsupported_media_type"
    )
    assert "JPEG, PNG, PDF and DICOM" in body["detail"]
    tiny = await upload(network, cid, b"GIF89a", "a.gif")
    await problem(tiny, 415, "unsupported_media_type")
    assert stored(settings) == []
    assert await rows(network) == []


def _cut_in_pixels(data: bytes) -> bytes:
    return data[:-1000]


def _cut_in_header(data: bytes) -> bytes:
    return data[:400]


def _cut_in_meta(data: bytes) -> bytes:
    return data[:150]


@pytest.mark.parametrize(
    ("cut", "says"),
    [
        (_cut_in_pixels, "pixel data is incomplete: 359000 of 360000 bytes"),
        (_cut_in_header, "no pixel data"),
        (_cut_in_meta, "no transfer syntax"),
    ],
)
async def test_a_truncated_dicom_is_refused_saying_what_is_wrong(
    network: Network, settings: Settings, cut: Callable[[bytes], bytes], says: str
) -> None:
    cid = (await file_consult(network))["id"]
    resp = await upload(network, cid, cut(files.dicom(300, 600)), "ct.dcm")
    body = await problem(resp, 422, "invalid_dicom")
    assert body["detail"].startswith("The DICOM file is not usable: ")
    assert says in body["detail"]
    assert stored(settings) == []
    assert await rows(network) == []


async def test_a_truncated_compressed_dicom_is_refused(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    data = files.dicom(48, 64, frames=3, rle=True)
    body = await problem(await upload(network, cid, data[:-100], "us.dcm"), 422, "invalid_dicom")
    assert "truncated" in body["detail"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (files.jpeg(200, 200)[:-400], "The JPEG file is not usable"),
        (files.png(200, 200)[:-40], "The PNG file is not usable"),
        (files.pdf()[:-30], "%%EOF"),
        (b"", "The file is empty."),
    ],
    ids=["jpeg", "png", "pdf", "empty"],
)
async def test_a_damaged_file_is_invalid(
    network: Network, settings: Settings, data: bytes, says: str
) -> None:
    cid = (await file_consult(network))["id"]
    body = await problem(await upload(network, cid, data, "f"), 422, "invalid_file")
    assert says in body["detail"]
    assert stored(settings) == []


async def test_a_body_that_is_not_multipart_is_unsupported(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    headers = await network.headers("doctor_a")
    as_json = await network.client.post(URL.format(cid=cid), json={"file": "x"}, headers=headers)
    body = await problem(as_json, 415, "unsupported_media_type")
    assert "multipart/form-data" in body["detail"]
    raw = await network.client.post(
        URL.format(cid=cid),
        data=files.png(),
        headers={**headers, "Content-Type": "image/png"},
    )
    await problem(raw, 415, "unsupported_media_type")


async def test_a_multipart_body_without_a_file_part_names_what_is_missing(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    headers = await network.headers("doctor_a")
    form = aiohttp.FormData()
    form.add_field("document", files.png(), filename="a.png")
    wrong = await network.client.post(URL.format(cid=cid), data=form, headers=headers)
    body = await problem(wrong, 400, "validation_error")
    assert body["errors"][0]["location"] == ["body", "document"]
    empty = await network.client.post(
        URL.format(cid=cid),
        data=b"--b--\r\n",
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    body = await problem(empty, 400, "validation_error")
    assert body["errors"] == [
        {
            "location": ["body", "file"],
            "message": "A part named 'file' is required.",
            "type": "missing",
        }
    ]
    png_part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        + files.png()
    )
    for content_type, data, extra in [
        ("multipart/form-data", b"--b--\r\n", {}),  # no boundary
        ("multipart/form-data; boundary=b", b"not multipart at all", {}),
        ("multipart/form-data; boundary=b", png_part, {}),  # no closing boundary
        (  # a second part after the file
            "multipart/form-data; boundary=b",
            png_part + b'\r\n--b\r\nContent-Disposition: form-data; name="more"\r\n\r\nx\r\n--b--',
            {},
        ),
        ("multipart/form-data; boundary=b", b"not gzip", {"Content-Encoding": "gzip"}),
    ]:
        resp = await network.client.post(
            URL.format(cid=cid),
            data=data,
            headers={**headers, "Content-Type": content_type, **extra},
        )
        await problem(resp, 400, "validation_error")
    assert await rows(network) == []


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (up to 10 s) for something the server does in its own time: the file system
    gives no event to wait on."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


async def test_an_interrupted_upload_leaves_no_file_and_no_row(
    network: Network, settings: Settings
) -> None:
    cid = (await file_consult(network))["id"]
    token = (await network.headers("doctor_a"))["Authorization"]
    data = files.dicom(300, 600)
    part = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="ct.dcm"\r\n'
        b"Content-Type: application/dicom\r\n\r\n"
    )
    head = (
        f"POST {URL.format(cid=cid)} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {len(part) + len(data) + 9}\r\n\r\n"
    ).encode()
    client = network.client
    _, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head + part + data[: len(data) // 2])
    await writer.drain()
    tmp = settings.data_dir / "attachments" / "tmp"
    await until(lambda: tmp.exists() and any(tmp.iterdir()), "the upload never started")
    # While it dawdles, it holds no database connection (SQLite has only one).
    async with asyncio.timeout(10):
        assert (await upload(network, cid, files.png(), "ecg.png")).status == 201
    writer.close()
    await writer.wait_closed()
    await until(lambda: all(p.parts[0] != "tmp" for p in stored(settings)), "partial file kept")
    assert [r.filename for r in await rows(network)] == ["ecg.png"]
    # The server is none the worse for it.
    assert (await upload(network, cid, data, "ct.dcm")).status == 201


def mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    """`count` damaged copies of `data`, the same every run: bytes overwritten, a
    stretch cut out or the file cut short, its first bytes (the type) kept."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not a secret)
    out = []
    for _ in range(count):
        damaged = bytearray(data)
        how = rng.choice(("flip", "cut", "truncate"))
        at = rng.randrange(SNIFF_BYTES, len(data))
        if how == "flip":
            for _ in range(rng.randint(1, 16)):
                damaged[rng.randrange(SNIFF_BYTES, len(data))] = rng.randrange(256)
        elif how == "cut":
            del damaged[at : at + rng.randint(1, 64)]
        else:
            del damaged[at:]
        out.append(bytes(damaged))
    return out


@pytest.mark.parametrize(
    "original",
    [files.jpeg(64, 64), files.png(64, 64), files.pdf(), files.dicom(32, 32)],
    ids=["jpeg", "png", "pdf", "dicom"],
)
async def test_damaged_files_never_cause_a_server_error(
    network: Network, settings: Settings, original: bytes
) -> None:
    cid = (await file_consult(network))["id"]
    answers = []
    for damaged in mutations(original, seed=len(original), count=12):
        resp = await upload(network, cid, damaged, "damaged")
        answers.append(resp.status)
        if resp.status != 201:
            await problem(resp, 422, (await resp.json())["code"])
    assert set(answers) <= {201, 422}, answers
    # Whatever was refused left nothing behind: only kept files remain, none in tmp/.
    assert all(p.parts[0] != "tmp" for p in stored(settings))
    assert len(await rows(network)) == answers.count(201)


async def test_a_cut_off_download_resumes_with_a_range(network: Network) -> None:
    """A district link drops halfway through a scan: the browser (or curl -C -) asks for
    the rest, and gets exactly the bytes it lacks."""
    cid = (await file_consult(network))["id"]
    data = files.pdf() + b"\n%" + bytes(range(256)) * 64 + b"\n%%EOF\n"
    out = await uploaded(network, cid, data, "ket-qua.pdf")
    url, size = out["download_url"], len(data)
    whole = await get(network, url)
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]

    for asked, start, stop in [
        ("bytes=0-9", 0, 10),
        ("bytes=100-", 100, size),
        ("bytes=-50", size - 50, size),
        (f"bytes=10-{size + 1000}", 10, size),  # an end past the file is the end
    ]:
        piece = await get(network, url, Range=asked)
        assert piece.status == 206, asked
        assert await piece.read() == data[start:stop], asked
        assert piece.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}", asked
        assert piece.headers["Content-Length"] == str(stop - start), asked
        assert piece.headers["ETag"] == etag
    resumed = await get(network, url, Range="bytes=200-", **{"If-Range": etag})
    assert await resumed.read() == data[200:]

    past = await get(network, url, Range=f"bytes={size}-")
    assert past.status == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    # A range the server cannot serve as one piece, or of another version: the whole file.
    for headers in (
        {"Range": "bytes=0-1,5-6"},
        {"Range": "pages=1-2"},
        {"Range": "bytes=0-9", "If-Range": '"an-older-version"'},
    ):
        full = await get(network, url, **headers)
        assert full.status == 200, headers
        assert await full.read() == data, headers
