"""What an uploaded file is: its type read from its first bytes, its content verified,
DICOM metadata read, a PNG preview rendered for the browser, and a small thumbnail for
the lists (a 96-px box on the page, drawn at twice that for sharp phone screens).

Everything here is synchronous and CPU-bound; the server runs it in a worker process
with a memory ceiling (`inspection_pool.py`). A file is refused from its header when
what it would decode to exceeds MAX_DECODED_BYTES: a 170 kB PNG may declare 9400x9400
16-bit pixels, and Pillow's own limit counts pixels, not bytes.

A refusal never carries what a library said (it names server paths such as the
temporary file); that goes to the server's log through `Refusal.cause`.
"""

from __future__ import annotations

import io
import math
import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image, ImageOps
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import iter_pixels

from telehealth.errors import DomainError, ErrorCode

SNIFF_BYTES = 132  # enough for the DICOM preamble (128 bytes) and its "DICM" marker
PREVIEW_PX = 512
# The pages show attachments in 96-CSS-px boxes; phones draw them at 2x.
THUMBNAIL_PX: Final = 192
THUMBNAIL_JPEG_QUALITY: Final = 80
# Pillow's own decompression-bomb threshold; a frame larger than this is refused.
MAX_FRAME_PIXELS: Final = Image.MAX_IMAGE_PIXELS or 89_478_485
# What one image or DICOM frame may take once decoded (pixels x bytes per pixel as held in
# memory): a 12-bit 4096x4096 radiograph is 32 MiB, a 24-megapixel photograph 96 MiB.
MAX_DECODED_BYTES: Final = 128 * 1024 * 1024
# Bounds the time spent decoding every frame of a multi-frame DICOM (one at a time).
MAX_TOTAL_DECODED_BYTES: Final = 1024 * 1024 * 1024
PDF_TAIL_BYTES = 2048
_WARNINGS_LOCK = threading.Lock()


class Kind(StrEnum):
    """What kind of clinical file an attachment is."""

    IMAGE = "image"
    PDF = "pdf"
    DICOM = "dicom"


@dataclass(frozen=True)
class FileType:
    """A type we accept: how it is served and which file name extensions fit it."""

    kind: Kind
    content_type: str
    extensions: tuple[str, ...]
    label: str


JPEG = FileType(Kind.IMAGE, "image/jpeg", (".jpg", ".jpeg"), "JPEG")
PNG = FileType(Kind.IMAGE, "image/png", (".png",), "PNG")
PDF = FileType(Kind.PDF, "application/pdf", (".pdf",), "PDF")
DICOM = FileType(Kind.DICOM, "application/dicom", (".dcm",), "DICOM")
BY_CONTENT_TYPE = {t.content_type: t for t in (JPEG, PNG, PDF, DICOM)}


@dataclass(frozen=True)
class Inspection:
    """What was learnt from a verified file: metadata and, where one makes sense, a PNG
    preview and a JPEG thumbnail."""

    meta: dict[str, Any]
    preview: bytes | None
    thumbnail: bytes | None = None


class Refused(DomainError):
    """A file that is not what it claims, or too large to decode. `detail` is for the
    client; `cause` (a library's message, which may name server paths) only for the log."""

    def __init__(self, detail: str, code: ErrorCode, cause: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process and re-raised in the server: pickled by its arguments.
        return (Refused, (self.detail, self.code, self.cause))


def sniff(head: bytes) -> FileType | None:
    """The type the first bytes announce (never the file name), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"%PDF-"):
        return PDF
    if head[128:132] == b"DICM":
        return DICOM
    return None


def inspect(path: Path, filetype: FileType) -> Inspection:
    """Verify that the file really is `filetype`; raise a 422 naming what is wrong."""
    if filetype.kind is Kind.DICOM:
        found = _dicom(path)
    elif filetype.kind is Kind.PDF:
        return _pdf(path)
    else:
        found = _image(path, filetype)
    if found.preview is None:
        return found
    return Inspection(found.meta, found.preview, render_thumbnail(found.preview))


def render_thumbnail(preview: bytes) -> bytes:
    """A JPEG no larger than THUMBNAIL_PX a side, made from the (already verified and
    bounded) PNG preview; transparency is laid on white, as the page shows it."""
    with Image.open(io.BytesIO(preview)) as img:
        img.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
        flat: Image.Image = img
        if img.mode != "L":
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        flat.save(out, "JPEG", quality=THUMBNAIL_JPEG_QUALITY, optimize=True)
        return out.getvalue()


def _invalid(filetype: FileType, problem: str, cause: BaseException | None = None) -> Refused:
    code = ErrorCode.INVALID_DICOM if filetype is DICOM else ErrorCode.INVALID_FILE
    reason = f"{type(cause).__name__}: {cause}" if cause is not None else None
    return Refused(f"The {filetype.label} file is not usable: {problem}.", code, reason)


def too_large(filetype: FileType, cause: BaseException | None = None) -> Refused:
    """The refusal of a file that needs more memory than a worker may take."""
    return _invalid(filetype, "it is too large to decode", cause)


def bytes_per_pixel(mode: str) -> int:
    """How many bytes Pillow holds per pixel of `mode` (bands are packed into 32 bits)."""
    if mode in {"1", "L", "P"}:
        return 1
    return 2 if mode.startswith("I;16") else 4


# -- images -------------------------------------------------------------------------------


def _image(path: Path, filetype: FileType) -> Inspection:
    # Pillow parses untrusted bytes with many plugins: whatever it raises, the file is bad.
    try:
        with Image.open(path) as img:
            if img.format != filetype.label:
                raise _invalid(filetype, f"its content is {img.format}")
            img.verify()
        # verify() leaves the image unusable; decoding it in full catches truncation.
        with Image.open(path) as img:
            meta = {"width": img.width, "height": img.height}
            _bound_decoding(img, filetype)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no full-size copy
            return Inspection(meta, render_png(img))
    except Refused:
        raise
    except MemoryError as exc:
        raise too_large(filetype, exc) from None
    except Exception as exc:
        raise _invalid(filetype, "it cannot be decoded", exc) from None


def _bound_decoding(img: Image.Image, filetype: FileType) -> None:
    """Refuse, from the header alone, an image whose decoding would take too much."""
    size = f"{img.width}x{img.height} pixels is too large"
    if img.width * img.height > MAX_FRAME_PIXELS:
        raise _invalid(filetype, size)
    if filetype is JPEG:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale while still reading every byte (a cut
        # file still fails): a large photograph needs a fraction of its full size.
        img.draft(img.mode, (2 * PREVIEW_PX, 2 * PREVIEW_PX))
    if img.width * img.height * bytes_per_pixel(img.mode) > MAX_DECODED_BYTES:
        raise _invalid(filetype, size)


def render_png(img: Image.Image) -> bytes:
    """A PNG no larger than PREVIEW_PX on either side."""
    if img.mode in {"I", "I;16", "I;16L", "I;16B", "F"}:
        # Subsample before any copy: a full-size float64 array is 8 bytes a pixel.
        step = max(1, math.ceil(max(img.size) / (2 * PREVIEW_PX)))
        if step > 1:
            small = (max(1, img.width // step), max(1, img.height // step))
            img = img.resize(small, Image.Resampling.NEAREST)
        img = Image.fromarray(_stretch(np.asarray(img)))
    elif img.mode not in {"L", "LA", "RGB", "RGBA"}:
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
    img.thumbnail((PREVIEW_PX, PREVIEW_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _has_alpha(img: Image.Image) -> bool:
    return "A" in img.getbands() or "transparency" in img.info


# -- PDF ----------------------------------------------------------------------------------


def _pdf(path: Path) -> Inspection:
    with path.open("rb") as fh:
        head = fh.read(16)
        fh.seek(max(0, path.stat().st_size - PDF_TAIL_BYTES))
        tail = fh.read()
    version = re.match(rb"%PDF-(\d\.\d)", head)
    if version is None:
        raise _invalid(PDF, "its header names no PDF version")
    if b"%%EOF" not in tail:
        raise _invalid(PDF, "it does not end with %%EOF (it is truncated)")
    return Inspection({"version": version.group(1).decode()}, None)


# -- DICOM --------------------------------------------------------------------------------


def _dicom(path: Path) -> Inspection:
    # A parser of untrusted bytes raises many kinds of errors, and pydicom parses an
    # element when it is first touched: whatever it raises, the file is bad input.
    try:
        return _dicom_inspection(_read_dicom(path))
    except Refused:
        raise
    except MemoryError as exc:
        raise too_large(DICOM, exc) from None
    except Exception as exc:
        raise _invalid(DICOM, "it cannot be parsed", exc) from None


def _dicom_inspection(ds: Dataset) -> Inspection:
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    frames = _int(ds.get("NumberOfFrames")) or 1
    if not rows or not columns:
        raise _invalid(DICOM, "Rows and Columns are missing")
    # Bounded from the header, before any decoding; a compressed frame decodes to this.
    samples = _int(ds.get("SamplesPerPixel")) or 1
    frame_bytes = rows * columns * samples * math.ceil((_int(ds.get("BitsAllocated")) or 8) / 8)
    if (
        rows * columns > MAX_FRAME_PIXELS
        or frame_bytes > MAX_DECODED_BYTES
        or frame_bytes * frames > MAX_TOTAL_DECODED_BYTES
    ):
        raise _invalid(DICOM, f"{frames} frame(s) of {columns}x{rows} pixels is too large")
    _check_pixel_length(ds, rows, columns, frames)
    first = _decode(ds, rows, columns)
    meta = {
        "modality": _text(ds.get("Modality")),
        "study_date": _date(ds.get("StudyDate")),
        "body_part": _text(ds.get("BodyPartExamined")),
        "rows": rows,
        "columns": columns,
        "frames": frames,
    }
    return Inspection(meta, render_png(Image.fromarray(first)))


def _read_dicom(path: Path) -> Dataset:
    # pydicom reads a cut-short file without raising: it warns, or simply stops early.
    # catch_warnings swaps process-wide state, so one thread at a time may use it.
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(path)
    if any("End of file" in str(w.message) for w in caught):
        raise _invalid(DICOM, "it ends in the middle of an element (it is truncated)")
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        raise _invalid(DICOM, "it has no transfer syntax (the file meta header is cut short)")
    if not ds.file_meta.TransferSyntaxUID.is_transfer_syntax:
        # Not echoed: the value is whatever bytes the file holds there.
        raise _invalid(DICOM, "its transfer syntax is not a valid one")
    if "PixelData" not in ds:
        raise _invalid(DICOM, "it has no pixel data (the file may be truncated)")
    return ds


def _check_pixel_length(ds: Dataset, rows: int, columns: int, frames: int) -> None:
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return  # compressed: decoding every frame is the check
    samples = _int(ds.get("SamplesPerPixel")) or 1
    bits = _int(ds.get("BitsAllocated")) or 8
    expected = math.ceil(rows * columns * samples * frames * bits / 8)
    actual = len(ds.PixelData)
    if actual < expected:
        raise _invalid(
            DICOM,
            f"the pixel data is incomplete: {actual} of {expected} bytes (the file is truncated)",
        )


def _decode(ds: Dataset, rows: int, columns: int) -> NDArray[np.uint8]:
    """Decode every frame (a corrupt later frame must fail too); window the first."""
    first: NDArray[np.uint8] | None = None
    try:
        for frame in iter_pixels(ds):
            if first is None:
                # Only the preview is windowed: subsample big frames before the float maths.
                step = max(1, math.ceil(max(rows, columns) / (2 * PREVIEW_PX)))
                first = to_8bit(frame[::step, ::step], ds)
    except MemoryError as exc:
        raise too_large(DICOM, exc) from None
    except Exception as exc:
        raise _invalid(DICOM, "its pixel data cannot be decoded", exc) from None
    if first is None:
        raise _invalid(DICOM, "it holds no frame")
    return first


def to_8bit(frame: NDArray[Any], ds: Dataset) -> NDArray[np.uint8]:
    """One frame for display: modality LUT, the file's window (else min-max), 8 bits."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim == 3:
        return frame if frame.dtype == np.uint8 else _stretch(frame)
    values = apply_modality_lut(frame, ds).astype(np.float64)
    window = _window(ds)
    low, high = window if window else (float(values.min()), float(values.max()))
    scaled = np.rint((np.clip(values, low, high) - low) / max(high - low, 1e-9) * 255)
    out = scaled.astype(np.uint8)
    return 255 - out if photometric == "MONOCHROME1" else out


def _stretch(values: NDArray[Any]) -> NDArray[np.uint8]:
    as_float = values.astype(np.float64)
    low, high = float(as_float.min()), float(as_float.max())
    return np.rint((as_float - low) / max(high - low, 1e-9) * 255).astype(np.uint8)


def _window(ds: Dataset) -> tuple[float, float] | None:
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width < 1:
        return None
    return center - width / 2, center + width / 2


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    try:
        return int(value) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def _text(value: Any, limit: int = 64) -> str | None:
    if value is None:
        return None
    clean = "".join(c for c in str(value) if unicodedata.category(c)[0] != "C").strip()
    return clean[:limit] or None


def _date(value: Any) -> str | None:
    """A DICOM DA value (YYYYMMDD) as an ISO date; None when absent or invalid."""
    text = _text(value)
    if text is None or not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None
