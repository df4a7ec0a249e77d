"""Property-based fuzzing from the app's own OpenAPI document: no request earns a 5xx,
and every answer is what the document says (schema, status, content type, Allow), for
every role.

Schemathesis generates valid (positive) and schema-violating (negative) requests for
every documented operation and sends them, as each role in turn, to the real server of
the `client` fixture. It runs in a worker thread so the event loop keeps serving.

Generation is deterministic (the same cases every run, so CI is not flaky) and
bounded: about BUDGET cases per role, at least MIN_EXAMPLES per operation and mode (the
admin, who may call almost everything, gets ADMIN_EXAMPLES and every operation; the other
roles get one example of each operation and mode that their role may call: what they may
not is a 403 before anything else, proven by the role matrix of test_access.py).
`TELEHEALTH_FUZZ_EXAMPLES=200` sets the number per operation and mode for a deeper
local run.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from typing import Any

import pytest

from tests.support.network import Network

BUDGET = 300
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


def for_role(op: Any, role: str) -> bool:
    """Whether `role` may call the operation (the admin tries them all)."""
    allowed = op.definition.raw.get("x-roles")
    return role == "admin" or allowed is None or role in allowed


def fuzz(document: dict[str, Any], base_url: str, headers: dict[str, str], role: str) -> list[str]:
    """Run every operation in both modes; return one line per operation that got a 5xx
    or an answer its document does not describe."""
    schemathesis = need("schemathesis")
    hypothesis = need("hypothesis")
    requests = need("requests")
    from schemathesis import checks
    from schemathesis.core.failures import FailureGroup

    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document has no operation"
    operations = [op for op in operations if for_role(op, role)]
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
    for op in operations:
        if (op.method.upper(), op.path) in SKIPPED:
            continue
        count = examples if takes_input(op) else 1
        for mode in modes:

            @hypothesis.settings(settings, max_examples=count)  # type: ignore[misc]
            @hypothesis.given(case=op.as_strategy(generation_mode=mode))  # type: ignore[misc]
            def send(case: Any) -> None:
                case.call_and_validate(
                    base_url=base_url,
                    session=session,
                    headers=headers,
                    checks=[
                        checks.not_a_server_error,
                        checks.response_schema_conformance,
                        checks.status_code_conformance,
                        checks.content_type_conformance,
                        checks.negative_data_rejection,
                        checks.allow_header_conformance,
                        checks.unsupported_method,
                    ],
                )

            try:
                send()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to make invalid: the operation takes no input
            except (Exception, FailureGroup) as exc:  # it carries a curl line to reproduce
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {exc}"[:2000])
    session.close()
    return failures


@pytest.mark.parametrize("who", ROLES)
async def test_fuzzed_requests_get_documented_answers_and_no_server_error(
    network: Network, who: str
) -> None:
    need("schemathesis")
    client = network.client
    document = await (await client.get("/api/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    headers = await network.headers(who)
    failures = await asyncio.to_thread(fuzz, document, base_url, headers, ROLES[who])
    assert not failures, "\n\n".join(failures)
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status == 200, f"the token of {who} did not survive the run"
