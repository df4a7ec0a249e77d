"""HTML error pages for browser requests (API callers get problem+json instead)."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.errors import DomainError
from telehealth.views.problem import TITLES, status_for
from telehealth.views.templating import render_page


async def html_error(request: web.Request, error: DomainError) -> web.Response:
    """A page that says what went wrong, in the request's language, with the right status."""
    status = status_for(error.code)
    context = {
        "status": status,
        "title": TITLES.get(error.code, "Error"),
        "detail": error.detail,
        "code": error.code.value,
        "request_id": request.get(keys.REQUEST_ID, ""),
    }
    response = render_page(request, "error.html", context, status=status)
    retry_after = error.extra.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response
