"""Uploads built to exhaust the server: small files that decode to gigabytes are refused
by their declared size before any pixel is decoded (the refusal names the declared size,
which only the header check does; decoding took 14 s and 3 GB before), and no refusal
tells the client a server path or a library's message."""

from __future__ import annotations

import struct

import pytest

from telehealth.config import Settings
from tests.integration.test_consult_attachments import problem, rows, stored, upload
from tests.support import files
from tests.support.consults import file_consult
from tests.support.network import Network

DECODE = "it cannot be decoded"
PIXELS = "its pixel data cannot be decoded"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        # 171,842 bytes -> 9400 x 9400 x 2 bytes (the sample).
        (files.png_bomb(9400, 9400, bit_depth=16), "grey16.png"),
        # 88 megapixels of 8-bit RGB: just under Pillow's own pixel-count limit.
        (files.png_bomb(9400, 9400, bit_depth=8, colour_type=2), "rgb8.png"),
    ],
    ids=["16-bit-grey", "8-bit-rgb"],
)
async def test_an_image_that_decodes_to_hundreds_of_megabytes_is_refused_before_decoding(
    network: Network, settings: Settings, data: bytes, name: str
) -> None:
    cid = (await file_consult(network))["id"]
    body = await problem(await upload(network, cid, data, name), 422, "invalid_file")
    assert body["detail"] == "The PNG file is not usable: 9400x9400 pixels is too large."
    assert stored(settings) == []
    assert await rows(network) == []


async def test_a_compressed_dicom_frame_too_large_to_decode_is_refused(
    network: Network, settings: Settings
) -> None:
    cid = (await file_consult(network))["id"]
    data = files.rle_dicom_bomb(8400, 8400)  # 2 MB -> one frame of 141 MB
    body = await problem(await upload(network, cid, data, "ct.dcm"), 422, "invalid_dicom")
    assert "8400x8400 pixels is too large" in body["detail"]
    assert stored(settings) == []


async def test_a_compressed_dicom_with_too_many_frames_to_decode_is_refused(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    data = files.rle_dicom_bomb(4096, 4096, frames=40)  # 10 MB -> 40 frames of 32 MiB
    body = await problem(await upload(network, cid, data, "cine.dcm"), 422, "invalid_dicom")
    assert "40 frame(s) of 4096x4096 pixels is too large" in body["detail"]


def _bad_syntax(data: bytes) -> bytes:
    """A file meta header whose transfer syntax runs 65,535 bytes into the data set."""
    return data[:132] + b"\x02\x00\x10\x00UI\xff\xff" + data[140:]


def _bad_rle_header(data: bytes) -> bytes:
    """An RLE frame whose header claims five segments where there are two."""
    two_segments = struct.pack("<2I", 2, 64)
    return data.replace(two_segments, struct.pack("<2I", 5, 64), 1)


@pytest.mark.parametrize(
    ("data", "label", "says"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"not a png at all" * 8, "PNG", DECODE),
        (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, "JPEG", DECODE),
        (files.jpeg(200, 200)[:-400], "JPEG", DECODE),
        (_bad_syntax(files.dicom(16, 16)), "DICOM", "its transfer syntax is not a valid one"),
        (files.dicom(16, 16).replace(b"OW", b"ZZ", 1), "DICOM", "it cannot be parsed"),
        (_bad_rle_header(files.rle_dicom_bomb(64, 64)), "DICOM", PIXELS),
    ],
    ids=[
        "png-unidentified",
        "jpeg-unidentified",
        "jpeg-truncated",
        "dicom-syntax",
        "dicom-vr",
        "dicom-rle",
    ],
)
async def test_a_refusal_names_no_server_path_and_no_library_message(
    network: Network, settings: Settings, data: bytes, label: str, says: str
) -> None:
    cid = (await file_consult(network))["id"]
    resp = await upload(network, cid, data, "scan")
    text = await resp.text()
    assert resp.status == 422, text
    leaks = (str(settings.data_dir), "/tmp", "upload-", "cannot identify", "Errno", "Error")
    for leak in leaks:
        assert leak not in text, text
    assert (await resp.json())["detail"] == f"The {label} file is not usable: {says}."
