"""Declarative endpoints: one decorator states path, models, who may call, and docs.

Every JSON endpoint is an `Endpoint`; its metadata drives input parsing, the access
check in the auth middleware, response rendering and the OpenAPI document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar, cast

import pydantic
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.auth.audit import AuditContext
from telehealth.auth.principal import Principal
from telehealth.auth.sessions import storable_header
from telehealth.errors import DomainError, ErrorCode, Forbidden, NotFound, Unauthenticated

B = TypeVar("B")
Q = TypeVar("Q")

ENDPOINT_ATTR = "__telehealth_endpoint__"
# PostgreSQL text cannot hold NUL and no field of ours needs it: refuse it at the edge
# rather than fail in the driver.
NUL = "\x00"
PATH_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# What reading a body the client sent may raise when the client sent it wrong: text that
# does not decode, broken compression, a multipart part header aiohttp cannot parse
# (`name="username\x00"` is an InvalidHeader). Their messages echo input: never shown.
MALFORMED_BODY: Final = (ValueError, web.RequestPayloadError, HttpProcessingError)


class Empty(BaseModel):
    """A body or query with no fields (unknown fields are still refused)."""

    model_config = pydantic.ConfigDict(extra="forbid")


class InputError(DomainError):
    """A request that could not be parsed into its model; lists the fields at fault."""

    code = ErrorCode.VALIDATION_ERROR


@dataclass
class Call(Generic[B, Q]):
    """One parsed request handed to an endpoint handler."""

    request: web.Request
    body: B
    query: Q

    @property
    def principal(self) -> Principal:
        """The signed-in caller; endpoints that are not public always have one."""
        principal = cast(Principal | None, self.request.get(keys.PRINCIPAL))
        if principal is None:
            raise Unauthenticated("Sign in first.")
        return principal

    @property
    def audit(self) -> AuditContext:
        """Who and where, for the audit log."""
        principal = self.request.get(keys.PRINCIPAL)
        return AuditContext(
            actor_id=principal.user_id if principal else None,
            client_address=client_address(self.request),
            request_id=self.request.get(keys.REQUEST_ID),
            client_request_id=self.request.get(keys.CLIENT_REQUEST_ID),
        )

    def path(self, name: str) -> str:
        """A path parameter."""
        return self.request.match_info[name]


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """What one route is: the contract used for parsing, access and documentation."""

    method: str
    path: str
    handler: Handler
    tag: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    public: bool = False
    roles: frozenset[Role] | None = None
    page: bool = False
    errors: tuple[int, ...] = field(default=())
    # A streamed multipart/form-data body the handler reads itself (`request.multipart()`).
    upload: bool = False
    # Content types of a non-JSON answer (a file), for the documentation.
    produces: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """A unique operation id: handler names repeat across features (`cancel`)."""
        return f"{self.tag}_{self.handler.__name__}"

    def allows(self, principal: Principal | None) -> None:
        """Raise unless `principal` may call this endpoint (role level; records come later)."""
        if self.public:
            return
        if principal is None:
            raise Unauthenticated("Sign in first.")
        if self.roles is not None and not principal.has(*self.roles):
            raise Forbidden("Your role does not allow this.")


def client_address(request: web.Request) -> str | None:
    """The caller's address (X-Forwarded-For only when the proxy is trusted)."""
    settings = request.app[keys.SETTINGS]
    if settings.trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return storable_header(forwarded.split(",")[0].strip(), 64)
    return request.remote


async def _parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise DomainError(
            "Send the body as application/json.", code=ErrorCode.UNSUPPORTED_MEDIA_TYPE
        )
    try:
        raw = await request.read()
    except web.RequestPayloadError:
        # A corrupt gzip/deflate body is the client's fault, not ours.
        raise InputError("The body could not be decoded; check its Content-Encoding.") from None
    try:
        parsed = model.model_validate_json(raw or b"")
    except pydantic.ValidationError as exc:
        raise _input_error(exc, "body") from None
    if _holds_nul(parsed.model_dump()):
        raise InputError("Text may not contain NUL characters.")
    return parsed


def _check_multipart(request: web.Request) -> None:
    if request.content_type != "multipart/form-data":
        raise DomainError(
            "Send the file as multipart/form-data, in a part named 'file'.",
            code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        )


def _parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values if len(values) > 1 else values[0]
    if _holds_nul(data):
        raise InputError("Text may not contain NUL characters.")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _input_error(exc, "query") from None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(v) for v in value)
    return False


def _input_error(exc: pydantic.ValidationError, where: str) -> InputError:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return InputError("The body is not valid JSON.", code=ErrorCode.MALFORMED_JSON)
    fields = [
        {"location": [where, *map(str, e["loc"])], "message": e["msg"], "type": e["type"]}
        for e in errors
    ]
    summary = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in errors)
    return InputError(f"Invalid {where}: {summary}", extra={"errors": fields})


def render(result: Any, status: int) -> web.StreamResponse:
    """Turn a handler's return value into a JSON response."""
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return web.Response(status=204)
    if isinstance(result, BaseModel):
        payload: Any = result.model_dump(mode="json")
    elif isinstance(result, list):
        payload = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
    else:
        payload = result
    return web.json_response(
        payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
    )


def _check_path_ids(request: web.Request) -> None:
    # Ids are UUIDs or slot ids; anything else (NUL bytes, 10 kB strings) names nothing,
    # and must never reach a database driver that would choke on it.
    for value in request.match_info.values():
        if not PATH_ID_RE.match(value):
            raise NotFound("Not found.")


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        _check_path_ids(request)
        body = await _parse_body(request, endpoint.body) if endpoint.body else None
        query = _parse_query(request, endpoint.query or Empty)
        if endpoint.upload:
            _check_multipart(request)
        result = await endpoint.handler(Call(request, body, query))
        return render(result, endpoint.status)

    handle.__name__ = endpoint.name
    setattr(handle, ENDPOINT_ATTR, endpoint)
    return handle


class Routes:
    """Collects one feature's endpoints; `register(app)` adds them to the router."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, *, summary: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        """Declare an endpoint; by default it needs a signed-in caller."""
        roles = options.pop("roles", None)

        def decorate(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    tag=self.tag,
                    summary=summary,
                    roles=frozenset(roles) if roles is not None else None,
                    **options,
                )
            )
            return handler

        return decorate

    def get(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a GET endpoint."""
        return self.route("GET", path, summary=summary, **options)

    def post(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a POST endpoint."""
        return self.route("POST", path, summary=summary, **options)

    def put(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a PUT endpoint."""
        return self.route("PUT", path, summary=summary, **options)

    def patch(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a PATCH endpoint."""
        return self.route("PATCH", path, summary=summary, **options)

    def delete(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a DELETE endpoint."""
        return self.route("DELETE", path, summary=summary, **options)

    def register(self, app: web.Application) -> None:
        """Add every endpoint to the app's router and to its endpoint list."""
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))
            app[keys.ENDPOINTS].append(endpoint)


def register_all(app: web.Application, collections: Iterable[Routes]) -> None:
    """Register several features' endpoints, so that a parameter never matches the fixed
    word of a sibling path: aiohttp tries every resource whose pattern fits, and would
    take `DELETE /api/v1/on-call/now` for the shift with id `now` (and answer a method
    `/consults/stats` lacks with the `Allow` of `/consults/{consult_id}`)."""
    endpoints = [e for routes in collections for e in routes.endpoints]
    fixed = [e.path.split("/") for e in endpoints if "{" not in e.path]
    for endpoint in endpoints:
        path = _excluding_fixed_words(endpoint.path, fixed)
        app.router.add_route(endpoint.method, path, _wrap(endpoint))
        app[keys.ENDPOINTS].append(endpoint)


def _excluding_fixed_words(path: str, fixed: list[list[str]]) -> str:
    """`/a/{id}` with a sibling `/a/now` -> `/a/{id:(?!(?:now)(?:/|$))[^{}/]+}`."""
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if not (segment.startswith("{") and ":" not in segment):
            continue
        words = sorted(
            {
                other[i]
                for other in fixed
                if len(other) == len(segments) and other[:i] == segments[:i]
            }
        )
        if words:
            alternatives = "|".join(re.escape(w) for w in words)
            segments[i] = f"{segment[:-1]}:(?!(?:{alternatives})(?:/|$))[^{{}}/]+}}"
    return "/".join(segments)


def endpoint_of(request: web.Request) -> Endpoint | None:
    """The endpoint a request was routed to, if it is one of ours."""
    handler = request.match_info.handler
    return cast(Endpoint | None, getattr(handler, ENDPOINT_ATTR, None))
