"""Test files built in memory (no binary fixtures in the repository): images and a PDF
with Pillow, DICOM with pydicom, and a Windows executable header."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless, generate_uid


def image(fmt: str, width: int = 40, height: int = 30) -> bytes:
    """A small gradient image in `fmt` ("JPEG" or "PNG")."""
    ramp = np.linspace(0, 255, width * height * 3).reshape(height, width, 3).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, fmt)
    return out.getvalue()


def jpeg(width: int = 40, height: int = 30) -> bytes:
    """A small JPEG."""
    return image("JPEG", width, height)


def png(width: int = 40, height: int = 30) -> bytes:
    """A small PNG."""
    return image("PNG", width, height)


def pdf() -> bytes:
    """A one-page PDF (Pillow writes a valid one from an image)."""
    out = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(out, "PDF")
    return out.getvalue()


def executable(size: int = 4096) -> bytes:
    """What a Windows program starts with: the MZ header and its DOS stub message."""
    stub = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"This program cannot be run in DOS mode."
    return stub.ljust(size, b"\x00")


def dicom(
    rows: int = 300,
    columns: int = 600,
    *,
    frames: int = 1,
    modality: str = "CT",
    study_date: str = "20240315",
    body_part: str = "CHEST",
    monochrome: str = "MONOCHROME2",
    rle: bool = False,
) -> bytes:
    """A CT-like DICOM file: a 12-bit horizontal ramp, windowed at 40/400 HU, with the
    patient data a real scanner would write."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Nguyen^Van^A"
    ds.PatientID = "BN-0001"
    ds.Modality = modality
    ds.StudyDate = study_date
    ds.BodyPartExamined = body_part
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = monochrome
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ramp = np.tile(np.linspace(0, 4095, columns).astype(np.uint16), (rows, 1))
    pixels = np.stack([ramp] * frames) if frames > 1 else ramp
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.tobytes()
    if rle:
        ds.compress(RLELossless, pixels)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def png_bomb(width: int, height: int, *, bit_depth: int = 16, colour_type: int = 0) -> bytes:
    """A PNG whose pixels are all zero: a few hundred kilobytes that decode to
    width x height x bytes per pixel (written chunk by chunk, never held decoded)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + width * channels * bit_depth // 8)  # filter byte, then pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND")


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def rle_dicom_bomb(rows: int, columns: int, frames: int = 1) -> bytes:
    """An RLE-compressed 16-bit DICOM of zeros: about 1 byte per 64 decoded bytes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = RLELossless
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    # One segment per byte of a sample; each a PackBits run of 128 zeros, repeated.
    segment = b"\x81\x00" * math.ceil(rows * columns / 128)
    header = struct.pack("<16I", 2, 64, 64 + len(segment), *([0] * 13))
    frame = header + segment + segment
    ds.PixelData = encapsulate([frame] * frames)
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
