"""The OpenAPI 3.1 document, generated from the declared endpoints and their models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from telehealth import __version__, keys
from telehealth.views.problem import STATUS_BY_CODE
from telehealth.views.routing import Call, Endpoint, Routes

routes = Routes("operations")
REF = "#/components/schemas/{model}"
PARAM_RE = re.compile(r"\{(\w+)(?::[^}]*)?\}")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted({c.value for c in STATUS_BY_CODE})},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Invalid input: one entry per field at fault.",
            "items": {
                "type": "object",
                "required": ["location", "message", "type"],
                "properties": {
                    "location": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "retry_after": {
            "type": "integer",
            "minimum": 0,
            "description": "rate_limited: seconds to wait (also in Retry-After).",
        },
        "next_slots": {
            "type": "array",
            "items": {"type": "object"},
            "description": "slot_taken: the next free slots (SlotOut) of the practitioner.",
        },
    },
}
# An upload endpoint takes multipart/form-data with the file in a part named `file`.
UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}


class _Schemas:
    """Collects component schemas while operations refer to them by name."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def ref(self, annotation: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.components[annotation.__name__] = schema
            return {"$ref": REF.format(model=annotation.__name__)}
        return schema


def _parameters(endpoint: Endpoint, schemas: _Schemas) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PARAM_RE.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema = TypeAdapter(endpoint.query).json_schema(ref_template=REF)
        schemas.components.update(query_schema.pop("$defs", {}))
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    op: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": _parameters(endpoint, schemas),
        "responses": {},
    }
    if endpoint.handler.__doc__:
        op["description"] = endpoint.handler.__doc__.strip()
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(endpoint.body, "validation")}},
        }
    elif endpoint.upload:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": UPLOAD_SCHEMA}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        ok["content"] = {
            "application/json": {"schema": schemas.ref(endpoint.response, "serialization")}
        }
    elif endpoint.produces:
        binary = {"schema": {"type": "string", "format": "binary"}}
        ok["content"] = dict.fromkeys(endpoint.produces, binary)
    op["responses"][str(endpoint.status)] = ok
    # 401 everywhere: a malformed or unknown bearer token is refused even on a public
    # endpoint (and sign-in answers it to a wrong password).
    errors = {400, 401, 413, 415} if endpoint.body or endpoint.upload else {400, 401}
    if not endpoint.public:
        errors |= {403}
        op["security"] = [{"session": []}, {"bearer": []}]
    else:
        op["security"] = []
    for status in sorted(errors | set(endpoint.errors)):
        op["responses"][str(status)] = {"description": "Problem", "content": problem}
    if endpoint.roles:
        op["x-roles"] = sorted(endpoint.roles)
    return op


def _fields(endpoint: Endpoint) -> set[str]:
    model = endpoint.response
    if isinstance(model, type) and issubclass(model, BaseModel):
        return set(model.model_fields)
    return set()


def _own_id(creator: Endpoint) -> str | None:
    """The path parameter that names what `creator` makes: `POST /patients` makes a
    `patient_id`, `POST /on-call` whatever `/on-call/{...}` calls it."""
    collection = creator.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{collection.removesuffix('s').replace('-', '_')}_id"


def _link(creator: Endpoint, target: Endpoint) -> dict[str, Any] | None:
    """An OpenAPI link from what `creator` answers to the operation `target`, or None
    when some path parameter of `target` cannot be taken from that answer or request."""
    fields, own_params = _fields(creator), set(PARAM_RE.findall(creator.path))
    prefix = PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", creator.path).rstrip("/") + "/{"
    target_path = PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", target.path)
    made = _own_id(creator)
    parameters: dict[str, str] = {}
    from_answer = False
    for name in PARAM_RE.findall(target.path):
        if name in own_params:
            parameters[f"path.{name}"] = f"$request.path.{name}"
        elif "id" in fields and (name == made or target_path.startswith(prefix + name + "}")):
            parameters[f"path.{name}"] = "$response.body#/id"
            from_answer = True
        elif name in fields:
            parameters[f"path.{name}"] = f"$response.body#/{name}"
            from_answer = True
        else:
            return None
    if not from_answer:
        return None
    return {"operationId": target.name, "parameters": parameters}


def _links(creator: Endpoint, endpoints: list[Endpoint]) -> dict[str, Any]:
    """Links from a creating operation to every operation on what it made (schemathesis'
    stateful phase follows them: create, then read, change, delete the same record)."""
    if creator.method != "POST" or creator.status != 201:
        return {}
    links = {}
    for target in endpoints:
        if target.page or target is creator:
            continue
        link = _link(creator, target)
        if link is not None:
            links[target.name] = link
    return links


def build_openapi(endpoints: list[Endpoint], public_url: str) -> dict[str, Any]:
    """The whole document for the app's JSON endpoints (pages are left out)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.page:
            continue
        path = PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", endpoint.path)
        operation = _operation(endpoint, schemas)
        links = _links(endpoint, endpoints)
        if links:
            operation["responses"][str(endpoint.status)]["links"] = links
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "telehealth API", "version": __version__},
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "th_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


@routes.get("/api/openapi.json", summary="This API's OpenAPI 3.1 document", public=True)
async def openapi_document(call: Call[None, Any]) -> dict[str, Any]:
    """The OpenAPI document of every JSON endpoint."""
    app = call.request.app
    return build_openapi(app[keys.ENDPOINTS], app[keys.SETTINGS].public_url)
