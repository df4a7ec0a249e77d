"""Attachment thumbnails: the 96-px boxes of the consult pages load a small JPEG made in
the inspection worker when the file was verified, never the original; a file kept before
thumbnails existed falls back to its preview; strangers get nothing."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from telehealth import keys
from telehealth.consults.blob_check import check_store
from telehealth.consults.inspection import THUMBNAIL_PX
from telehealth.consults.models import ConsultAttachment
from telehealth.db.uow import UnitOfWork
from tests.support import files
from tests.support.consults import attach, file_consult
from tests.support.network import Network
from tests.support.pages import browse_as, page


def photograph(width: int = 2400, height: int = 1800) -> bytes:
    """A JPEG the size of a phone camera's, with detail a gradient lacks (seeded noise)."""
    rng = np.random.default_rng(12)
    base = np.linspace(0, 200, width * height * 3).reshape(height, width, 3)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


async def get(net: Network, url: str, who: str = "doctor_a") -> tuple[int, str, bytes]:
    resp = await net.client.get(url, headers=await net.headers(who))
    return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


@pytest.fixture
async def consult(network: Network) -> dict[str, Any]:
    return await file_consult(network)


async def test_a_photo_gets_a_thumbnail_a_fraction_of_its_size(
    network: Network, consult: dict[str, Any]
) -> None:
    original = photograph()
    out = await attach(network, "doctor_a", consult["id"], original, "anh.jpg")
    assert out["thumbnail_url"] == out["download_url"] + "/thumbnail"
    status, kind, thumb = await get(network, out["thumbnail_url"])
    assert (status, kind) == (200, "image/jpeg")
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG"
        assert max(img.size) == THUMBNAIL_PX
        assert img.size == (THUMBNAIL_PX, THUMBNAIL_PX * 3 // 4)  # the proportions kept
    assert len(thumb) < 20_000
    assert len(thumb) * 50 < len(original), (len(thumb), len(original))


async def test_dicom_and_transparent_png_get_thumbnails_and_a_pdf_none(
    network: Network, consult: dict[str, Any]
) -> None:
    dicom = await attach(network, "doctor_a", consult["id"], files.dicom(), "ct.dcm")
    status, kind, thumb = await get(network, dicom["thumbnail_url"])
    assert (status, kind) == (200, "image/jpeg")
    with Image.open(io.BytesIO(thumb)) as img:
        assert max(img.size) <= THUMBNAIL_PX
    status, _, preview = await get(network, dicom["preview_url"])
    assert status == 200
    assert len(thumb) < len(preview)

    clear = io.BytesIO()
    Image.new("RGBA", (300, 200), (255, 0, 0, 0)).save(clear, "PNG")
    png = await attach(network, "doctor_a", consult["id"], clear.getvalue(), "trong.png")
    status, kind, thumb = await get(network, png["thumbnail_url"])
    assert (status, kind) == (200, "image/jpeg")
    with Image.open(io.BytesIO(thumb)) as img:
        corner = img.convert("RGB").getpixel((5, 5))
        assert isinstance(corner, tuple)
        assert min(corner) > 240  # laid on white

    pdf = await attach(network, "doctor_a", consult["id"], files.pdf(), "kq.pdf")
    assert pdf["thumbnail_url"] is None
    status, _, _ = await get(network, pdf["download_url"] + "/thumbnail")
    assert status == 404


async def test_a_stranger_gets_no_thumbnail(network: Network, consult: dict[str, Any]) -> None:
    out = await attach(network, "doctor_a", consult["id"], files.jpeg(), "a.jpg")
    status, _, _ = await get(network, out["thumbnail_url"], "doctor_b")
    assert status == 404  # a doctor elsewhere: as if there were no such consult
    for no_reader in ("patient_self", "trainer"):  # roles that never read consults
        status, _, _ = await get(network, out["thumbnail_url"], no_reader)
        assert status == 403


async def test_a_file_kept_before_thumbnails_falls_back_to_its_preview(
    network: Network, consult: dict[str, Any]
) -> None:
    out = await attach(network, "doctor_a", consult["id"], files.jpeg(400, 300), "cu.jpg")
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(ConsultAttachment)
            .where(ConsultAttachment.id == out["id"])
            .values(thumbnail_sha256=None)
        )
        await uow.commit()
    status, kind, body = await get(network, out["thumbnail_url"])
    assert (status, kind) == (200, "image/png")
    assert body.startswith(b"\x89PNG")


async def test_the_consult_page_shows_thumbnails_not_originals(
    network: Network, consult: dict[str, Any]
) -> None:
    out = await attach(network, "doctor_a", consult["id"], photograph(800, 600), "tim.jpg")
    await browse_as(network, "doctor_a")
    html = await page(network, f"/consults/{consult['id']}")
    assert f'<img src="{out["thumbnail_url"]}"' in html
    assert f"{out['download_url']}?inline=true" not in html
    assert "IMAGE" not in html


async def test_the_store_check_counts_thumbnails_as_named(
    network: Network, consult: dict[str, Any]
) -> None:
    await attach(network, "doctor_a", consult["id"], files.jpeg(), "a.jpg")
    app = network.client.app
    report = await check_store(app[keys.SESSIONMAKER], app[keys.ATTACHMENTS].store)
    assert report.checked == 3  # the file, its preview and its thumbnail
    assert report.missing == report.damaged == []
    assert report.orphans == []
