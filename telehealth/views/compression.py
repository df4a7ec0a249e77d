"""Gzip for text answers (pages, CSS, JS, JSON) when the client accepts it.

Only bodies worth it: text types, at least `MIN_BYTES`, not already encoded, not a byte
range (a range of a compressed stream means nothing to a client that asked for the
file). A validator of a compressed answer becomes weak: the bytes differ, the content is
the same. Pages carry their anti-forgery token masked afresh in every answer (see
`telehealth.auth.sessions.mask_csrf_token`), so no secret repeats across compressed
answers (BREACH); `docs/security.md` says why that is enough.
"""

from __future__ import annotations

import mimetypes
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_response import ContentCoding

__all__ = ["MIN_BYTES", "accepts_gzip", "compression_middleware", "weaken_encoded_etag"]

# Below about a kilobyte, gzip's header and the lost sendfile cost more than they save.
MIN_BYTES: Final = 1024
TEXT_TYPES: Final = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "text/calendar",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "application/fhir+json",
        "application/manifest+json",
        "image/svg+xml",
    }
)


def accepts_gzip(accept_encoding: str) -> bool:
    """True if the Accept-Encoding header allows gzip (`q=0` refuses it)."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        weight = params.strip().removeprefix("q=")
        try:
            return not params or float(weight) > 0
        except ValueError:
            return False
    return False


@web.middleware
async def compression_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn on gzip for a text answer the client may receive compressed."""
    response = await handler(request)
    if response.prepared or _content_type(response) not in TEXT_TYPES:
        return response
    _add_vary(response)
    if _worth_compressing(request, response):
        response.enable_compression(ContentCoding.gzip)
    return response


async def weaken_encoded_etag(request: web.Request, response: web.StreamResponse) -> None:
    """Just before the headers go out (a file's ETag is set only then): a gzipped answer
    carries a weak ETag, since its bytes are not the file's. If-None-Match compares weakly,
    so the client's next request still gets its 304."""
    etag = response.headers.get(hdrs.ETAG, "")
    if response.headers.get(hdrs.CONTENT_ENCODING) == "gzip" and etag.startswith('"'):
        response.headers[hdrs.ETAG] = "W/" + etag


def _worth_compressing(request: web.Request, response: web.StreamResponse) -> bool:
    if response.compression or hdrs.CONTENT_ENCODING in response.headers:
        return False
    if response.status in (204, 206, 304):
        return False
    if hdrs.RANGE in request.headers or request.method == "HEAD":
        return False
    if isinstance(response, web.FileResponse) and _conditional(request):
        # The file may answer 304 only once it is sent, and aiohttp would then write a gzip
        # trailer after an empty answer. A revalidation mostly gets that 304; when the file
        # did change, it comes once uncompressed.
        return False
    if not accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
        return False
    size = _body_size(response)
    return size is None or size >= MIN_BYTES


def _conditional(request: web.Request) -> bool:
    return hdrs.IF_NONE_MATCH in request.headers or hdrs.IF_MODIFIED_SINCE in request.headers


def _content_type(response: web.StreamResponse) -> str:
    """The answer's media type; a file's is guessed from its name only when it is sent."""
    if isinstance(response, web.FileResponse) and hdrs.CONTENT_TYPE not in response.headers:
        return mimetypes.guess_type(response._path.name)[0] or ""
    return response.content_type


def _body_size(response: web.StreamResponse) -> int | None:
    """The body's length if known before sending (a file's is known once opened)."""
    if isinstance(response, web.Response):
        body = response.body
        return len(body) if isinstance(body, (bytes, bytearray)) else None
    if isinstance(response, web.FileResponse):
        try:
            return response._path.stat().st_size
        except OSError:
            return None
    return response.content_length


def _add_vary(response: web.StreamResponse) -> None:
    vary = response.headers.get(hdrs.VARY, "")
    if "accept-encoding" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
