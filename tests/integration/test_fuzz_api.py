"""Property-based fuzzing from the app's own OpenAPI document, for every role: no
request earns a 5xx, and every answer is what the document says, by every check
schemathesis has (CHECKS), in its stateless and its stateful phase.

Schemathesis generates valid (positive) and schema-violating (negative) requests for
every documented operation the role may call and sends them to the real server of the
`client` fixture; then it walks the document's links (a patient, appointment, consult
or shift made by one call is read, changed and removed by the next). It runs in a
worker thread so the event loop keeps serving. A positive request refused with a 400 is
a failure unless the refusal names a rule a JSON schema cannot state (SEMANTIC).

Generation is deterministic (the same cases every run, so CI is not flaky) and
bounded: about BUDGET cases per role, at least MIN_EXAMPLES per operation and mode (the
admin, who may call almost everything, gets ADMIN_EXAMPLES), and WALKS stateful walks
(ADMIN_WALKS for the admin) of at most STEPS calls. `TELEHEALTH_FUZZ_EXAMPLES=200` sets
the number per operation and mode for a deeper local run.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import os
import re
from typing import Any

import pytest

from tests.support.network import Network

BUDGET = 120
# One user of the test network per role.
ROLES = {
    "admin": "admin",
    "doctor_a": "doctor",
    "specialist": "specialist",
    "coordinator_a": "coordinator",
    "patient_self": "patient",
    "trainer": "trainer",
    "trainee": "trainee",
}
MIN_EXAMPLES = 1
ADMIN_EXAMPLES = 3
# Operations that would end the caller's own token and blind the rest of the run.
SKIPPED = {("POST", "/api/v1/auth/logout")}


def need(module: str) -> Any:
    """A dependency of the `test` extra: missing, it is a failure, never a skip."""
    return importlib.import_module(module)


def takes_input(op: Any) -> bool:
    """Whether an operation has parameters or a body to vary."""
    definition = op.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


# Every check schemathesis has for an OpenAPI document, by name (a missing one fails).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
)
# Rules a JSON schema cannot state, which the server still enforces with a 400 on
# schema-valid input: password strength, one field against another (an end after its
# start, a national id's digits against the birth year and sex, a staff role and its
# facility, an amendment that changes nothing), a reference to a record that does not
# exist or a cursor the server did not issue, a range of dates. Anything
# else refused is a disagreement between the API and its document, to fix.
SEMANTIC = re.compile(
    "|".join(
        [
            r"too easy to guess",
            r"must be after",
            r"give either",
            r"names no \w+",
            r"does not match the (century|year|recorded sex)",
            r"must be a province code",
            r"cursor is not valid",
            r"must fall in the years",
            r"range can be at most",
            r"need a facility_id",
            r"must change at least one field",
        ]
    )
)
# Stateful walks: create, then act on what was made, STEPS calls at most per walk.
WALKS = 3
ADMIN_WALKS = 6
STEPS = 5


def checks_of(module: Any) -> list[Any]:
    """The checks to run: all of them, positive-data acceptance knowing SEMANTIC."""
    found = [getattr(module, name) for name in CHECKS]
    strict = module.positive_data_acceptance

    def positive_data_acceptance(ctx: Any, response: Any, case: Any) -> bool | None:
        try:
            result: bool | None = strict(ctx, response, case)
        except Exception:
            if response.status_code == 400 and SEMANTIC.search(response.text):
                return None
            raise
        return result

    return [positive_data_acceptance if c is strict else c for c in found]


def for_role(op: dict[str, Any], role: str) -> bool:
    """Whether `role` may call the operation (the admin tries them all)."""
    allowed = op.get("x-roles")
    return role == "admin" or allowed is None or role in allowed


def document_for(document: dict[str, Any], role: str) -> dict[str, Any]:
    """The document with only the operations `role` may call (and links between them):
    what they may not is a 403 before anything else, proven by test_access.py."""
    doc = copy.deepcopy(document)
    kept: set[str] = set()
    for path, ops in list(doc["paths"].items()):
        for method, op in list(ops.items()):
            if not for_role(op, role) or (method.upper(), path) in SKIPPED:
                del ops[method]
            else:
                kept.add(op["operationId"])
        if not ops:
            del doc["paths"][path]
    for ops in doc["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                links = answer.get("links", {})
                for name in [n for n, link in links.items() if link["operationId"] not in kept]:
                    del links[name]
    return doc


def load(document: dict[str, Any]) -> Any:
    """The schema, with no generated credentials: the caller's real token is the only
    one sent, so `ignored_auth` can tell that it matters."""
    schema = need("schemathesis").openapi.from_dict(document)
    schema.config.generation.update(with_security_parameters=False)
    return schema


def fuzz(document: dict[str, Any], base_url: str, headers: dict[str, str], role: str) -> list[str]:
    """Run every operation in both modes; return one line per operation whose answer
    breaks a check."""
    schemathesis = need("schemathesis")
    hypothesis = need("hypothesis")
    requests = need("requests")
    from schemathesis import checks
    from schemathesis.core.failures import FailureGroup

    schema = load(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document has no operation"
    least = ADMIN_EXAMPLES if role == "admin" else MIN_EXAMPLES
    modes = list(schemathesis.GenerationMode)
    # Operations that take no input get one look; the budget goes to those that do.
    with_input = [op for op in operations if takes_input(op)]
    examples = int(
        os.environ.get("TELEHEALTH_FUZZ_EXAMPLES")
        or max(least, BUDGET // (max(1, len(with_input)) * len(modes)))
    )
    session = requests.Session()
    failures: list[str] = []
    # No shrinking: the first failing example is reported, and the run stays bounded.
    settings = hypothesis.settings(
        max_examples=1,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    every_check = checks_of(checks)
    for op in operations:
        count = examples if takes_input(op) else 1
        for mode in modes:

            @hypothesis.settings(settings, max_examples=count)  # type: ignore[misc]
            @hypothesis.given(case=op.as_strategy(generation_mode=mode))  # type: ignore[misc]
            def send(case: Any) -> None:
                case.call_and_validate(
                    base_url=base_url, session=session, headers=headers, checks=every_check
                )

            try:
                send()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to make invalid: the operation takes no input
            except (Exception, FailureGroup) as exc:  # it carries a curl line to reproduce
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {exc}"[:2000])
    session.close()
    return failures


def walk(document: dict[str, Any], base_url: str, headers: dict[str, str], role: str) -> list[str]:
    """The stateful phase: schemathesis follows the document's links (a record made by
    one call is read, changed and removed by the next), with every check on each step."""
    hypothesis = need("hypothesis")
    requests = need("requests")
    from schemathesis import checks
    from schemathesis.core.failures import FailureGroup

    schema = load(document)
    every_check = checks_of(checks)
    session = requests.Session()
    machine = schema.as_state_machine()

    class Walk(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base_url, "session": session, "headers": headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            kwargs.pop("additional_checks", None)
            case.validate_response(
                response,
                checks=every_check,
                headers=headers,
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    settings = hypothesis.settings(
        max_examples=ADMIN_WALKS if role == "admin" else WALKS,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    try:
        Walk.run(settings=settings)
    except (Exception, FailureGroup) as exc:
        return [f"stateful: {exc}"[:3000]]
    finally:
        session.close()
    return []


@pytest.mark.parametrize("who", ROLES)
async def test_fuzzed_requests_get_documented_answers_and_no_server_error(
    network: Network, who: str
) -> None:
    need("schemathesis")
    client = network.client
    document = await (await client.get("/api/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    headers = await network.headers(who)
    mine = document_for(document, ROLES[who])
    failures = await asyncio.to_thread(fuzz, mine, base_url, headers, ROLES[who])
    failures += await asyncio.to_thread(walk, mine, base_url, headers, ROLES[who])
    assert not failures, "\n\n".join(failures)
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status == 200, f"the token of {who} did not survive the run"
