"""The async work behind CLI commands, with the same services the server uses."""

from __future__ import annotations

import argparse
from datetime import timedelta

from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.service import AccountsService
from telehealth.auth.audit import AuditContext, ChainReport, verify_chain
from telehealth.auth.passwords import PasswordHasher
from telehealth.auth.sequencer import chain_written
from telehealth.config import Settings
from telehealth.consults.blob_check import StoreReport, check_store
from telehealth.consults.blobs import BlobStore
from telehealth.db.engine import build_engine, build_sessionmaker
from telehealth.db.uow import UnitOfWork
from telehealth.errors import DomainError

CLI_CONTEXT = AuditContext(actor_id=None, client_address="cli", request_id=None)


async def create_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    """Create a user from the command line; returns the new id."""
    engine = build_engine(settings.database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        facility_id = None
        if args.facility:
            async with UnitOfWork(sessionmaker) as uow:
                facility = await AccountsRepository(uow.session).facility_by_code(args.facility)
                # Read the id before the unit of work ends: its rollback expires the row.
                facility_id = facility.id if facility is not None else None
            if facility_id is None:
                raise DomainError(f"no facility with code {args.facility}")
        data = s.UserCreate.model_validate(
            {
                "username": args.username,
                "password": password,
                "full_name": args.full_name,
                "roles": [Role(r) for r in args.roles],
                "facility_id": facility_id,
                "specialties": args.specialties,
            }
        )
        service = AccountsService(sessionmaker, PasswordHasher(settings.passwords))
        user_id = (await service.create_user(CLI_CONTEXT, data)).id
        await chain_written(sessionmaker, settings.audit, settings.rooms.node_id)
        return user_id
    finally:
        await engine.dispose()


async def verify_audit(settings: Settings) -> ChainReport:
    """Check the whole audit chain, and that no row waited longer than the sequencer's bound."""
    engine = build_engine(settings.database_url)
    try:
        async with UnitOfWork(build_sessionmaker(engine), read_only=True) as uow:
            bound = timedelta(seconds=settings.audit.chain_seconds)
            return await verify_chain(uow.session, bound)
    finally:
        await engine.dispose()


async def chain_audit(settings: Settings) -> int:
    """Chain every committed, unchained audit event now, as the node's sequencer would
    (nothing if a running server holds the lease: it chains them itself)."""
    engine = build_engine(settings.database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        return await chain_written(sessionmaker, settings.audit, settings.rooms.node_id)
    finally:
        await engine.dispose()


async def check_attachments(settings: Settings, remove_orphans: bool) -> StoreReport:
    """Check the attachment store of the data directory against the database."""
    engine = build_engine(settings.database_url)
    try:
        store = BlobStore.in_data_dir(settings.data_dir)
        return await check_store(build_sessionmaker(engine), store, remove_orphans=remove_orphans)
    finally:
        await engine.dispose()
