"""The OpenAPI document at /api/openapi.json: public, valid 3.1, and true to the endpoints.

Compared with the running app's endpoint list, so an endpoint that is declared but
not documented (or documented but gone) fails here, as does a schema that no longer
matches its pydantic model or an answer that does not match its documented schema.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, TypeAdapter

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.errors import ErrorCode
from telehealth.views.problem import STATUS_BY_CODE
from telehealth.views.routing import Endpoint
from tests.support.network import Network

REF = "#/components/schemas/{model}"
PARAM_RE = re.compile(r"\{(\w+)(?::[^}]*)?\}")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def json_endpoints(client: TestClient[Any, Any]) -> list[Endpoint]:
    """The running app's JSON endpoints (pages are not part of the API)."""
    return [e for e in client.app[keys.ENDPOINTS] if not e.page]


def documented_path(endpoint: Endpoint) -> str:
    """`/x/{id:\\d+}` as OpenAPI writes it: `/x/{id}`."""
    return PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", endpoint.path)


def operation(doc: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    op = doc["paths"][documented_path(endpoint)][endpoint.method.lower()]
    assert isinstance(op, dict)
    return op


def pointer(doc: dict[str, Any], ref: str) -> Any:
    """Resolve a local JSON pointer such as `#/components/schemas/UserOut`."""
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref}: {part} is not under an object"
        assert part in node, f"{ref} does not resolve ({part} missing)"
        node = node[part]
    return node


def refs_in(node: Any) -> list[str]:
    """Every `$ref` anywhere in a document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs_in(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs_in(value)]
    return []


def model_schema(model: type[BaseModel], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's own JSON schema (as the document should hold it) and its $defs."""
    schema = TypeAdapter(model).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    defs = schema.pop("$defs", {})
    return schema, defs


def need(module: str) -> Any:
    """A dependency of the `test` extra: missing, it is a failure, never a skip."""
    return importlib.import_module(module)


def validator_for(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator for one schema of the document (refs resolve)."""
    jsonschema = need("jsonschema")
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


@pytest.fixture
async def document(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    doc = await resp.json()
    assert isinstance(doc, dict)
    return doc


async def test_the_document_is_public_and_openapi_3_1(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert "Set-Cookie" not in resp.headers
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert doc["servers"][0]["url"] == client.app[keys.SETTINGS].public_url


async def test_the_document_passes_the_openapi_3_1_validator(document: dict[str, Any]) -> None:
    validator = need("openapi_spec_validator")
    validator.validate(document, cls=validator.OpenAPIV31SpecValidator)
    broken = {**document, "paths": {"/x": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(Exception, match="description"):
        validator.validate(broken, cls=validator.OpenAPIV31SpecValidator)


async def test_every_component_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    jsonschema = need("jsonschema")
    for name, schema in document["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except Exception as exc:  # the message names the offending keyword
            pytest.fail(f"component {name}: {exc}")


async def test_every_json_endpoint_is_documented_and_nothing_else(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    declared = {(documented_path(e), e.method.lower()) for e in json_endpoints(client)}
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert declared, "the app declares no JSON endpoint"
    assert declared - documented == set(), "declared but not documented"
    assert documented - declared == set(), "documented but not declared"
    pages = {e.path for e in client.app[keys.ENDPOINTS] if e.page}
    assert not pages & set(document["paths"]), "pages are not part of the JSON API"


async def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"operationIds used twice: {duplicates}"


async def test_every_ref_resolves_inside_the_document(document: dict[str, Any]) -> None:
    refs = refs_in(document)
    assert refs, "the document refers to no component at all"
    for ref in sorted(set(refs)):
        target = pointer(document, ref)
        assert isinstance(target, dict), ref


async def test_request_bodies_reference_their_models(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    components = document["components"]["schemas"]
    for endpoint in json_endpoints(client):
        op = operation(document, endpoint)
        if endpoint.upload:
            assert_upload_documented(endpoint, op)
            continue
        if endpoint.body is None:
            assert "requestBody" not in op, f"{endpoint.path}: documents a body it ignores"
            continue
        body = op["requestBody"]
        assert body["required"] is True
        assert list(body["content"]) == ["application/json"]
        name = endpoint.body.__name__
        assert body["content"]["application/json"]["schema"] == {"$ref": REF.format(model=name)}
        own, defs = model_schema(endpoint.body, "validation")
        # The same name must not stand for two different models (or two modes of one).
        assert components[name] == own, f"component {name} is not {endpoint.body}"
        for def_name, def_schema in defs.items():
            assert components[def_name] == def_schema, f"component {def_name} ({name})"
        # Unknown fields are refused, and the document says so.
        assert own.get("additionalProperties") is False, f"{name} admits unknown fields"
        for status in ("400", "413", "415"):
            assert status in op["responses"], f"{endpoint.method} {endpoint.path}: {status}"


def assert_upload_documented(endpoint: Endpoint, op: dict[str, Any]) -> None:
    """A streamed upload: multipart/form-data with a binary part `file`, and its problems."""
    where = f"{endpoint.method} {endpoint.path}"
    assert endpoint.body is None, f"{where}: an upload takes no JSON body"
    body = op["requestBody"]
    assert body["required"] is True, where
    assert list(body["content"]) == ["multipart/form-data"], where
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"], where
    assert schema["properties"]["file"] == {"type": "string", "format": "binary"}, where
    for status in ("400", "413", "415"):
        assert status in op["responses"], f"{where}: {status}"


async def test_responses_reference_their_models(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    components = document["components"]["schemas"]
    for endpoint in json_endpoints(client):
        op = operation(document, endpoint)
        ok = op["responses"][str(endpoint.status)]
        model = endpoint.response
        if isinstance(model, type) and issubclass(model, BaseModel):
            schema = ok["content"]["application/json"]["schema"]
            assert schema == {"$ref": REF.format(model=model.__name__)}, endpoint.path
            own, _defs = model_schema(model, "serialization")
            assert components[model.__name__] == own, f"component {model.__name__}"
        elif endpoint.produces:
            assert set(ok["content"]) == set(endpoint.produces), endpoint.path


async def test_parameters_match_paths_and_query_models(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    for endpoint in json_endpoints(client):
        op = operation(document, endpoint)
        where = f"{endpoint.method} {endpoint.path}"
        params = op["parameters"]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(PARAM_RE.findall(endpoint.path)), where
        assert all(p["required"] for p in params if p["in"] == "path"), where
        in_query = {p["name"] for p in params if p["in"] == "query"}
        expected = set()
        if endpoint.query is not None:
            expected = {field.alias or name for name, field in endpoint.query.model_fields.items()}
        assert in_query == expected, where
        names = [(p["in"], p["name"]) for p in params]
        assert len(names) == len(set(names)), f"{where}: a parameter twice"


async def test_security_and_roles_are_documented(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    schemes = set(document["components"]["securitySchemes"])
    assert {"bearer", "session"} <= schemes
    for endpoint in json_endpoints(client):
        op = operation(document, endpoint)
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.public:
            assert op["security"] == [], where
            continue
        assert op["security"], where
        for requirement in op["security"]:
            assert set(requirement) <= schemes, where
        for status in ("401", "403"):
            assert status in op["responses"], f"{where}: {status} undocumented"
        if endpoint.roles:
            assert set(op["x-roles"]) == {Role(r).value for r in endpoint.roles}, where


async def test_problems_document_every_error_code(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code"}
    assert set(problem["properties"]["code"]["enum"]) == {c.value for c in ErrorCode}
    # An error code without a status would fall through to 500.
    assert set(STATUS_BY_CODE) == set(ErrorCode)
    for item in document["paths"].values():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    content = response["content"]["application/problem+json"]["schema"]
                    assert content == {"$ref": REF.format(model="Problem")}


async def test_real_problems_match_the_problem_schema(
    network: Network, document: dict[str, Any]
) -> None:
    client = network.client
    validator = validator_for(document, {"$ref": REF.format(model="Problem")})
    answers = [
        await client.get("/api/v1/me"),
        await client.get("/api/v1/no-such-thing"),
        await client.delete("/api/v1/me"),
        await client.get("/api/v1/users", headers=await network.headers("patient_self")),
        await client.get("/api/v1/facilities?limit=0", headers=await network.headers("admin")),
        await client.post(
            "/api/v1/auth/login", data=b"{", headers={"Content-Type": "application/json"}
        ),
        await client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"}),
    ]
    assert [r.status for r in answers] == [401, 404, 405, 403, 400, 400, 401]
    for resp in answers:
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{resp.url.path}: {errors[0].message}"
        # Every member a problem carries (`errors`, `retry_after`...) is documented.
        documented = document["components"]["schemas"]["Problem"]["properties"]
        assert set(body) <= set(documented), f"{resp.url.path}: {set(body) - set(documented)}"


def caller_for(endpoint: Endpoint) -> str | None:
    if endpoint.public:
        return None
    if endpoint.roles is None or Role.ADMIN in endpoint.roles:
        return "admin"
    order = {Role.DOCTOR: "doctor_a", Role.COORDINATOR: "coordinator_a"}
    order |= {Role.SPECIALIST: "specialist", Role.TRAINER: "trainer", Role.TRAINEE: "trainee"}
    order |= {Role.PATIENT: "patient_self"}
    return next(user for role, user in order.items() if role in endpoint.roles)


async def test_real_answers_match_their_documented_schemas(
    network: Network, document: dict[str, Any]
) -> None:
    """Every GET without path parameters or required query, called by an allowed user."""
    checked, failures = [], []
    for endpoint in json_endpoints(network.client):
        if endpoint.method != "GET" or PARAM_RE.search(endpoint.path):
            continue
        if endpoint.query is not None and any(
            f.is_required() for f in endpoint.query.model_fields.values()
        ):
            continue
        op = operation(document, endpoint)
        content = op["responses"][str(endpoint.status)].get("content", {})
        if "application/json" not in content:
            continue
        user = caller_for(endpoint)
        headers = await network.headers(user) if user else {}
        resp = await network.client.get(endpoint.path, headers=headers)
        if resp.status != endpoint.status:
            failures.append(f"{endpoint.path}: {resp.status} {await resp.text()}")
            continue
        validator = validator_for(document, content["application/json"]["schema"])
        errors = sorted(validator.iter_errors(await resp.json()), key=str)
        if errors:
            failures.append(f"{endpoint.path}: {errors[0].json_path}: {errors[0].message}")
        checked.append(endpoint.path)
    assert not failures, "\n".join(failures)
    assert "/api/v1/facilities" in checked
    assert "/api/v1/me" in checked


async def test_links_lead_from_what_is_made_to_what_acts_on_it(document: dict[str, Any]) -> None:
    """The stateful fuzz phase follows these links: each names a real operation and fills
    every path parameter of it, from the answer or the creating request."""
    operations = {
        op["operationId"]: (path, op)
        for path, ops in document["paths"].items()
        for op in ops.values()
    }
    seen = set()
    for path, ops in document["paths"].items():
        for op in ops.values():
            for answer in op["responses"].values():
                for link in answer.get("links", {}).values():
                    target_path, _ = operations[link["operationId"]]
                    wanted = {f"path.{name}" for name in PARAM_RE.findall(target_path)}
                    assert set(link["parameters"]) == wanted, (path, link)
                    for expression in link["parameters"].values():
                        assert expression.startswith(("$response.body#/", "$request.path.")), link
                    seen.add((op["operationId"], link["operationId"]))
    for made, acted_on in [
        ("accounts_create_patient", "accounts_get_patient"),
        ("scheduling_book", "scheduling_cancel"),
        ("consults_file_consult", "consults_get_consult"),
        ("consults_file_consult", "consults_update_draft"),
        ("on_call_add_shift", "on_call_remove_shift"),
        ("accounts_create_user", "accounts_update_user"),
    ]:
        assert (made, acted_on) in seen, (made, acted_on)


async def test_phone_numbers_are_documented_as_the_server_reads_them(
    client: TestClient[Any, Any], document: dict[str, Any]
) -> None:
    """A number the document's pattern admits is one the server accepts, and the
    reverse (so generated clients and the fuzzer agree with the validator)."""
    pattern = re.compile(
        document["components"]["schemas"]["PatientCreate"]["properties"]["phone"]["anyOf"][0][
            "pattern"
        ]
    )
    from telehealth.accounts.validators import normalise_phone

    for number in (
        "0912345678",
        "+84 912 345 678",
        "(+84) 912.345.678",
        "0212345678",
        "+8412345678",
        "0912 34567",
        "091234567890",
        "84912345678",
    ):
        try:
            normalise_phone(number)
            accepted = True
        except ValueError:
            accepted = False
        assert bool(pattern.match(number)) == accepted, number
