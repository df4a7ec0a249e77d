"""Listing consults loads names in batches: the statement count does not grow with the page."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import sqlite

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.accounts.schemas import PatientCreate
from telehealth.auth.audit import AuditContext
from telehealth.auth.principal import Principal
from telehealth.consults.models import ConsultRequest
from telehealth.consults.policy import Viewer
from telehealth.consults.repository import queue_statement
from telehealth.consults.schemas import ConsultQuery
from tests.support.consults import act, file_consult
from tests.support.network import SEED, Network

PAGE = 20


def _principal(net: Network, name: str, role: Role, facility: str) -> Principal:
    return Principal(
        user_id=net.users[name],
        username=name,
        full_name=name,
        roles=frozenset({role}),
        facility_id=net.facilities[facility],
        session_id="queries",
        via="bearer",
    )


@contextmanager
def _counting(net: Network) -> Iterator[list[str]]:
    """Every SQL statement the app's engines (the writer and, on SQLite, the readers) run
    for the calling task inside the block (the app's background tasks, such as the audit
    sequencer and the outbox dispatcher, query on their own schedule), but the audit
    log's: the one audit row of a list read does not grow with the page."""
    statements: list[str] = []
    caller = asyncio.current_task()
    engines = [net.client.app[keys.ENGINE].sync_engine]
    reader = net.client.app[keys.SESSIONMAKER].kw.get("info", {}).get("telehealth_reader")
    if reader is not None:
        engines.append(reader)

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if asyncio.current_task() is caller and "audit_" not in statement:
            statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


async def _accepted_consults_for_distinct_patients(net: Network, n: int) -> None:
    doctor = _principal(net, "doctor_a", Role.DOCTOR, "D1")
    accounts = net.client.app[keys.ACCOUNTS]
    for i in range(n):
        patient = await accounts.register_patient(
            doctor, SEED, PatientCreate(full_name=f"Bệnh nhân {i}")
        )
        cid = (await file_consult(net, patient_id=patient.id))["id"]
        assert (await act(net, "specialist", cid, "accept")).status == 200


async def test_a_page_of_consults_takes_as_many_statements_as_a_page_of_two(
    network: Network,
) -> None:
    await _accepted_consults_for_distinct_patients(network, PAGE)
    service = network.client.app[keys.CONSULTS]
    callers = [
        (_principal(network, "doctor_a", Role.DOCTOR, "D1"), "mine"),
        (_principal(network, "specialist", Role.SPECIALIST, "C0"), "mine"),
        (_principal(network, "specialist", Role.SPECIALIST, "C0"), "specialty"),
    ]
    for principal, queue in callers:
        counts = {}
        for limit in (2, PAGE):
            with _counting(network) as statements:
                page = await service.list_consults(
                    principal, AuditContext(), ConsultQuery(queue=queue, limit=limit)
                )
            assert len(page.items) == limit
            assert all(c.assignees and c.patient for c in page.items)
            counts[limit] = len(statements)
        assert counts[2] > 0, "the count must see the list's own reads"
        assert counts[PAGE] == counts[2], (principal.username, queue, counts)


def test_the_queue_reads_open_requests_through_indexes(sqlite_template: Path) -> None:
    """The queue's query never reads the whole table (every consult ever filed, closed
    ones included): on the migrated schema SQLite serves both sides of its OR, "of my
    specialty" and "named to me", from an index."""
    viewer = Viewer(
        Principal(
            user_id="u",
            username="u",
            full_name="u",
            roles=frozenset({Role.SPECIALIST}),
            facility_id="f",
            session_id="plan",
            via="bearer",
        ),
        practitioner_id="p",
        specialties=frozenset({"cardiology", "neurology"}),
        at_hub=True,
    )
    stmt = queue_statement(viewer, None).order_by(ConsultRequest.due_at, ConsultRequest.id)
    sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with closing(sqlite3.connect(sqlite_template)) as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert not any(step.startswith("SCAN consult_requests") for step in plan), plan
    assert any("ix_consult_requests_queue" in step for step in plan), plan
    assert any("ix_consult_requests_target_practitioner_id" in step for step in plan), plan
