"""Server-side sessions and API tokens: random secrets, stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from telehealth.accounts.models import User
from telehealth.auth.models import AuthSession
from telehealth.config import SessionPolicy

# Only write `last_seen_at` when it is this stale, so reads do not all become writes.
TOUCH_INTERVAL = timedelta(seconds=60)


def digest(token: str) -> str:
    """The stored form of a session or API token."""
    # Header bytes that are not UTF-8 arrive as surrogates: such a token is merely unknown.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def storable_header(value: str | None, limit: int) -> str | None:
    """Header text fit for the database: undecodable bytes become U+FFFD, cut to `limit`."""
    if not value:
        return None
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:limit]


def touch_due(row: AuthSession, now: datetime) -> bool:
    """True if `last_seen_at` is stale enough to be written again."""
    return now - row.last_seen_at > TOUCH_INTERVAL


def csrf_token_for(secret_key: str, session_id: str) -> str:
    """The anti-forgery token of a session, derived so nothing extra is stored."""
    mac = hmac.new(secret_key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256)
    return mac.hexdigest()


def mask_csrf_token(token: str) -> str:
    """The token as a page carries it: a fresh random mask, then the token XOR the mask.
    Every answer then holds different bytes, so a compressed page leaks nothing about the
    token through its length (BREACH)."""
    raw = bytes.fromhex(token)
    mask = secrets.token_bytes(len(raw))
    return (mask + bytes(a ^ b for a, b in zip(mask, raw, strict=True))).hex()


def unmask_csrf_token(given: str) -> str:
    """The token a masked form field stands for; an unmasked token is returned as is."""
    try:
        raw = bytes.fromhex(given)
    except ValueError:
        return given
    if len(raw) != 2 * hashlib.sha256().digest_size:
        return given
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[:half], raw[half:], strict=True)).hex()


@dataclass(frozen=True)
class IssuedToken:
    """A new secret (shown once) and its stored row."""

    token: str
    row: AuthSession


class SessionStore:
    """Creates, looks up and ends sessions in the caller's transaction."""

    def __init__(self, session: AsyncSession, policy: SessionPolicy) -> None:
        self._session = session
        self._policy = policy

    async def issue(
        self,
        user_id: str,
        kind: str,
        now: datetime,
        client_address: str | None,
        user_agent: str | None,
    ) -> IssuedToken:
        """A new session (`cookie`) or API token (`bearer`) for `user_id`."""
        token = secrets.token_urlsafe(32)
        lifetime = (
            self._policy.absolute_timeout if kind == "cookie" else self._policy.token_lifetime
        )
        row = AuthSession(
            token_hash=digest(token),
            kind=kind,
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            client_address=client_address,
            user_agent=storable_header(user_agent, 300),
        )
        self._session.add(row)
        await self._session.flush()
        return IssuedToken(token, row)

    async def resolve(
        self, token: str, kind: str, now: datetime
    ) -> tuple[AuthSession, User] | None:
        """The live session and its active user, or None if unknown, ended or timed out.

        A pure read (one statement: session, user and roles); see `touch_due` and `touch`.
        """
        lookup = (
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .options(joinedload(User.roles))
            .where(AuthSession.token_hash == digest(token))
        )
        found = (await self._session.execute(lookup)).unique().one_or_none()
        if found is None:
            return None
        row, user = found
        if row.kind != kind or row.ended_at is not None or row.expires_at <= now:
            return None
        if kind == "cookie" and now - row.last_seen_at > self._policy.idle_timeout:
            return None
        if not user.active:
            return None
        return row, user

    async def touch(self, session_id: str, now: datetime) -> None:
        """Record that a live session was used at `now` (never moves the time back)."""
        await self._session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.ended_at.is_(None),
                AuthSession.last_seen_at < now,
            )
            .values(last_seen_at=now)
        )

    async def end(self, session_id: str, now: datetime) -> None:
        """End one session on the server; its token stops working at once."""
        await self._session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.ended_at.is_(None))
            .values(ended_at=now)
        )

    async def end_all_for(self, user_id: str, now: datetime) -> int:
        """End every session of a user (deactivation, password change); how many ended."""
        return await end_all_sessions(self._session, user_id, now)


async def end_all_sessions(session: AsyncSession, user_id: str, now: datetime) -> int:
    """End every live session and token of a user for good, in the caller's transaction.

    An ended row never comes back (`resolve` refuses it whatever the user's state), so
    reactivating the user later revives none of them. Returns how many were ended.
    """
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
