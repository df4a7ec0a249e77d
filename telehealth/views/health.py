"""Liveness, readiness and metrics endpoints for operators."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from telehealth import keys
from telehealth.errors import DomainError, ErrorCode
from telehealth.views.routing import Call, Routes

routes = Routes("operations")


class Health(BaseModel):
    """A health answer."""

    status: str


@routes.get("/healthz", summary="Liveness: the process answers", public=True, response=Health)
async def healthz(call: Call[None, Any]) -> Health:
    """The process is up."""
    return Health(status="ok")


@routes.get(
    "/readyz",
    summary="Readiness: the database answers",
    public=True,
    response=Health,
    errors=(503,),
)
async def readyz(call: Call[None, Any]) -> Health:
    """The database is reachable."""
    try:
        async with call.request.app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise DomainError("The database is not reachable.", code=ErrorCode.UNAVAILABLE) from exc
    return Health(status="ready")


@routes.get("/metrics", summary="Prometheus metrics", public=True, response=None)
async def metrics(call: Call[None, Any]) -> web.Response:
    """Request counts and latencies in the Prometheus text format."""
    body = generate_latest(call.request.app[keys.METRICS_REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
