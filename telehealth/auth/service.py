"""Sign-in use cases: registration, login, tokens, logout and resolving a caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts import schemas as s
from telehealth.accounts.models import Patient, Role, User, UserRole
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.service import facility_words, flush_unique, user_out
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.password_rules import check_new_password
from telehealth.auth.passwords import PasswordHasher
from telehealth.auth.principal import Principal
from telehealth.auth.registration import registration_notice
from telehealth.auth.sessions import SessionStore, end_all_sessions, touch_due
from telehealth.auth.throttle import Counter, LoginThrottleStore, throttle_keys
from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, InvalidCredentials, RateLimited
from telehealth.outbox.writer import Outbox

BAD_CREDENTIALS = "The username or password is not correct."


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the new secret and who it belongs to."""

    token: str
    expires_at: datetime
    principal: Principal


def principal_of(user: User, session_id: str, via: str) -> Principal:
    """The principal of a loaded user (roles must be loaded)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=user.role_set,
        facility_id=user.facility_id,
        session_id=session_id,
        via=via,
        locale=user.locale,
    )


class AuthService:
    """Registers patients, signs users in and out, and recognises callers."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._settings = settings
        self._clock = clock

    async def request_registration(self, ctx: AuditContext, data: s.RegisterIn) -> None:
        """Self-registration from outside: throttled per address, and the same answer
        whether the username was free or taken (the registrant is told which out of
        band, at the phone and e-mail they gave)."""
        await self._count_registration(ctx)
        try:
            await self.register_patient(ctx, data, notify=True)
        except Conflict:
            await self._tell_username_taken(ctx, data)

    async def _tell_username_taken(self, ctx: AuditContext, data: s.RegisterIn) -> None:
        async with UnitOfWork(self._sessionmaker) as uow:
            notice = registration_notice(
                "taken", data.username, data.phone, data.email, data.locale or "vi", self._clock()
            )
            await Outbox(uow.session).queue(notice)
            await AuditLog(uow.session, ctx).record(
                "user.register_refused", "user", None, {"reason": "username_taken"}
            )
            await uow.commit()

    async def _count_registration(self, ctx: AuditContext) -> None:
        if ctx.client_address is None:
            return
        policy, now = self._settings.throttle, self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            throttle = LoginThrottleStore(uow.session, policy)
            # An address locked out of sign-in may not register either.
            if await throttle.locked_out(f"address:{ctx.client_address}", now):
                raise RateLimited(
                    "Too many attempts from this address; try again later.", retry_after=60
                )
            await throttle.count_attempt(
                f"register:{ctx.client_address}",
                policy.registrations_per_address,
                policy.registration_window,
                now,
            )
            await uow.commit()

    async def register_patient(
        self, ctx: AuditContext, data: s.RegisterIn, *, notify: bool = False
    ) -> s.UserOut:
        """Self-registration: a patient login and its patient record, in one transaction."""
        await check_new_password(data.password, data.username, data.full_name, data.email)
        password_hash = await self._passwords.hash(data.password)
        async with UnitOfWork(self._sessionmaker) as uow:
            user = User(
                username=data.username,
                password_hash=password_hash,
                full_name=data.full_name,
                phone=data.phone,
                email=data.email,
                locale=data.locale,
                roles=[UserRole(role=Role.PATIENT.value)],
            )
            uow.session.add(user)
            await flush_unique(uow, "This username")
            patient = Patient(
                user_id=user.id,
                full_name=data.full_name,
                phone=data.phone,
                date_of_birth=data.date_of_birth,
                sex=data.sex,
            )
            uow.session.add(patient)
            await uow.flush()
            audit = AuditLog(uow.session, ctx.as_actor(user.id))
            await audit.record("user.register", "user", user.id, {"patient_id": patient.id})
            if notify:
                await Outbox(uow.session).queue(
                    registration_notice(
                        "created",
                        user.username,
                        data.phone,
                        data.email,
                        data.locale or "vi",
                        self._clock(),
                    )
                )
            await uow.commit()
            return user_out(user)

    async def sign_in(
        self,
        ctx: AuditContext,
        username: str,
        password: str,
        kind: str,
        user_agent: str | None,
    ) -> SignIn:
        """Check the password under throttling and open a new session or token."""
        keys = throttle_keys(username, ctx.client_address)
        await self._wait_for_throttle(keys)
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            throttle = LoginThrottleStore(uow.session, self._settings.throttle)
            await throttle.check(keys, now)
            user = await AccountsRepository(uow.session).user_by_username(username)
            ok = await self._passwords.verify(user.password_hash if user else None, password)
            if user is None or not ok or not user.active:
                await throttle.record_failure(keys, now)
                await AuditLog(uow.session, ctx).record(
                    "auth.login_failed",
                    "user",
                    user.id if user else None,
                    {"username": username[:64]},
                )
                await uow.commit()
                raise InvalidCredentials(BAD_CREDENTIALS)
            await throttle.reset_pair(username, ctx.client_address)
            if self._passwords.needs_rehash(user.password_hash):
                user.password_hash = await self._passwords.hash(password)
            issued = await SessionStore(uow.session, self._settings.sessions).issue(
                user.id, kind, now, ctx.client_address, user_agent
            )
            audit = AuditLog(uow.session, ctx.as_actor(user.id))
            await audit.record("auth.login", "auth_session", issued.row.id, {"kind": kind})
            await uow.commit()
            return SignIn(
                issued.token, issued.row.expires_at, principal_of(user, issued.row.id, kind)
            )

    async def _wait_for_throttle(self, keys: dict[str, Counter]) -> None:
        """Refuse a locked-out attempt, and wait out an account's slow-down with no
        transaction open (SQLite has one connection; waiting must hold nothing)."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            throttle = LoginThrottleStore(uow.session, self._settings.throttle)
            delay = await throttle.check(keys, self._clock())
        if delay > 0:
            await asyncio.sleep(delay)

    async def resolve(self, token: str, kind: str) -> Principal | None:
        """The caller a session cookie or bearer token belongs to, if it is still live."""
        now = self._clock()
        # Every request comes through here: the lookup is a read-only transaction (on
        # SQLite no write lock), and `last_seen_at` is written in a short transaction of
        # its own only when stale, after the reader has given its connection back.
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            found = await SessionStore(uow.session, self._settings.sessions).resolve(
                token, kind, now
            )
            if found is None:
                return None
            row, user = found
            # Rows expire when the reader ends: take what is needed before leaving it.
            principal, due = principal_of(user, row.id, kind), touch_due(row, now)
        if due:
            async with UnitOfWork(self._sessionmaker) as uow:
                store = SessionStore(uow.session, self._settings.sessions)
                await store.touch(principal.session_id, now)
                await uow.commit()
        return principal

    async def change_password(
        self, ctx: AuditContext, principal: Principal, current: str, new: str
    ) -> None:
        """Replace the caller's password and end every session and token they hold.

        The current password is checked under the sign-in throttle, so a stolen session
        cannot be used to guess it faster than the sign-in form allows.
        """
        keys = throttle_keys(principal.username, ctx.client_address)
        await self._wait_for_throttle(keys)
        now = self._clock()
        facility = await facility_words(self._sessionmaker, principal.facility_id)
        await check_new_password(new, principal.username, principal.full_name, *facility)
        new_hash = await self._passwords.hash(new)
        async with UnitOfWork(self._sessionmaker) as uow:
            throttle = LoginThrottleStore(uow.session, self._settings.throttle)
            await throttle.check(keys, now)
            user = await AccountsRepository(uow.session).user(principal.user_id)
            ok = await self._passwords.verify(user.password_hash if user else None, current)
            if user is None or not ok:
                await throttle.record_failure(keys, now)
                await AuditLog(uow.session, ctx).record(
                    "user.password_change_failed", "user", principal.user_id
                )
                await uow.commit()
                raise InvalidCredentials(BAD_CREDENTIALS)
            user.password_hash = new_hash
            ended = await end_all_sessions(uow.session, user.id, now)
            await AuditLog(uow.session, ctx).record(
                "user.password_change", "user", user.id, {"sessions_ended": ended}
            )
            await uow.commit()

    async def sign_out(self, ctx: AuditContext, principal: Principal) -> None:
        """End the caller's session on the server."""
        async with UnitOfWork(self._sessionmaker) as uow:
            await SessionStore(uow.session, self._settings.sessions).end(
                principal.session_id, self._clock()
            )
            await AuditLog(uow.session, ctx).record(
                "auth.logout", "auth_session", principal.session_id
            )
            await uow.commit()
