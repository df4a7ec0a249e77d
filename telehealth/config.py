"""Frozen settings, built once by `Settings.from_env()` and passed into `create_app`.

Nothing here is read at import time; tests build `Settings` directly.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

ENV_PREFIX = "TELEHEALTH_"
SECRET_FILE = "secret_key"  # noqa: S105 (a file name)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class IceServer:
    """One STUN/TURN server handed to WebRTC clients."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class PasswordPolicy:
    """argon2id parameters; the defaults are OWASP's (19 MiB, t=2, p=1)."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1
    min_length: int = 10


@dataclass(frozen=True)
class SessionPolicy:
    """Lifetimes of browser sessions and API tokens."""

    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    token_lifetime: timedelta = timedelta(hours=8)
    cookie_name: str = "th_session"


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed-login limits within one window (see `auth/throttle.py`), and registrations.

    A pair (account, address) is locked out progressively, an address outright; an
    account is only slowed down, so a stranger cannot lock its owner out.
    """

    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5
    first_lockout: timedelta = timedelta(minutes=1)
    per_address: int = 20
    lockout: timedelta = timedelta(minutes=15)
    per_account: int = 10
    account_delay: timedelta = timedelta(milliseconds=250)
    max_account_delay: timedelta = timedelta(seconds=4)
    registrations_per_address: int = 10
    registration_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes; no host means e-mail is not sent (messages stay queued)."""

    host: str | None = None
    port: int = 25
    sender: str = "telehealth@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway webhook: messages are POSTed as JSON `{to, text, id}`."""

    webhook_url: str | None = None
    token: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class OutboxSettings:
    """How the dispatcher polls, retries and backs off."""

    enabled: bool = True
    poll_seconds: float = 5.0
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    batch_size: int = 20


@dataclass(frozen=True)
class ClientTimeouts:
    """How long a client may take to send its request: its headers within
    `header_seconds` of connecting (or of the previous answer on a kept-alive
    connection, which is also how long an idle one stays open), a body within
    `body_seconds`, except an upload, which after that must keep `upload_min_rate`."""

    header_seconds: float = 15.0
    body_seconds: float = 30.0
    upload_min_rate: int = 2048  # bytes a second, averaged over the whole upload


@dataclass(frozen=True)
class ConsultSettings:
    """Response deadlines per urgency and attachment limits."""

    deadlines: tuple[tuple[str, timedelta], ...] = (
        ("routine", timedelta(hours=72)),
        ("urgent", timedelta(hours=24)),
        ("emergency", timedelta(hours=1)),
    )
    attachment_max_bytes: int = 50 * 1024 * 1024
    watch_seconds: float = 60.0
    # Urgencies whose requests page the specialist on call as soon as they are submitted
    # (an emergency cannot wait for its deadline to pass before anyone hears of it).
    page_on_submit: tuple[str, ...] = ("emergency",)

    def deadline(self, urgency: str) -> timedelta:
        """The response time allowed for an urgency."""
        return dict(self.deadlines)[urgency]


@dataclass(frozen=True)
class RoomSettings:
    """Live rooms: when they open and close, join tokens, TURN credentials, media addresses."""

    opens_before: timedelta = timedelta(minutes=60)
    grace: timedelta = timedelta(minutes=5)
    join_token_lifetime: timedelta = timedelta(minutes=10)
    # coturn's REST credentials (`use-auth-secret`): both set, or neither.
    turn_secret: str | None = None
    turn_urls: tuple[str, ...] = ()
    # Local addresses the server's own aiortc peers gather candidates on (empty: all).
    media_addresses: tuple[str, ...] = ()
    sweep_seconds: float = 30.0
    # How long a dropped connection's place is kept for it to come back as "reconnected".
    reconnect_window: timedelta = timedelta(seconds=30)
    # Identifies this node's live connections in the database (several nodes, one database).
    node_id: str = "node-1"


@dataclass(frozen=True)
class AuditSettings:
    """The audit chain's sequencer: how soon a committed row gets its place in the chain
    (`chain_seconds`, the bound `audit verify` holds rows to), how long a node's claim to
    be the one sequencer lasts without use, and how many rows one chaining step takes."""

    chain_seconds: float = 1.0
    lease_seconds: float = 10.0
    batch_size: int = 500


@dataclass(frozen=True)
class DatabasePool:
    """Connection pools. PostgreSQL: `size` kept open plus `max_overflow` on demand, each
    replaced after `recycle_seconds`. SQLite: one writer connection and `size` readers."""

    size: int = 10
    max_overflow: int = 10
    recycle_seconds: float = 1800.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class TeachingSettings:
    """Teaching sessions: the share of a session a trainee must attend for a certificate."""

    certificate_share: float = 0.8


@dataclass(frozen=True)
class RelaySettings:
    """The media relay of relay rooms: its worker processes and their capacity."""

    # Worker processes of this node (started with the first relay room, stopped with the app).
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Forwarded streams (one published track sent to one subscriber) one worker may carry;
    # a publish or subscribe beyond it is refused with `relay_full`.
    max_streams_per_worker: int = 200


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start; immutable once built."""

    database_url: str
    data_dir: Path
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://localhost:8080"
    redis_url: str | None = None
    # The Pub/Sub channel of the nodes of one deployment (Pub/Sub ignores the database
    # number in the URL: deployments sharing one Redis need distinct channels).
    redis_channel: str = "socketio"
    ice_servers: tuple[IceServer, ...] = ()
    max_body_bytes: int = 1024 * 1024
    default_locale: str = "vi"
    default_timezone: str = "Asia/Ho_Chi_Minh"
    trust_proxy: bool = False
    passwords: PasswordPolicy = field(default_factory=PasswordPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    reminder_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(minutes=15))
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    consults: ConsultSettings = field(default_factory=ConsultSettings)
    rooms: RoomSettings = field(default_factory=RoomSettings)
    teaching: TeachingSettings = field(default_factory=TeachingSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)

    client_timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    audit: AuditSettings = field(default_factory=AuditSettings)
    db_pool: DatabasePool = field(default_factory=DatabasePool)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` when the public URL is HTTPS."""
        return self.public_url.startswith("https://")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and the CLI use this)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `TELEHEALTH_*` variables, creating the data directory."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str | None = None) -> str | None:
            return env.get(ENV_PREFIX + name, default)

        data_dir = Path(get("DATA_DIR") or "data").resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = (
            get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'telehealth.sqlite3'}"
        )
        port = _int(get("PORT", "8080"), "PORT")
        return cls(
            database_url=_async_driver(database_url),
            data_dir=data_dir,
            secret_key=get("SECRET_KEY") or load_or_create_secret(data_dir),
            host=get("HOST") or "127.0.0.1",
            port=port,
            public_url=(get("PUBLIC_URL") or f"http://localhost:{port}").rstrip("/"),
            redis_url=get("REDIS_URL") or None,
            redis_channel=get("REDIS_CHANNEL") or "socketio",
            ice_servers=parse_ice_servers(get("ICE_SERVERS") or "[]"),
            max_body_bytes=_int(get("MAX_BODY_BYTES", str(1024 * 1024)), "MAX_BODY_BYTES"),
            default_locale=get("DEFAULT_LOCALE") or "vi",
            trust_proxy=_bool(get("TRUST_PROXY")),
            reminder_offsets=parse_offsets(get("REMINDER_OFFSETS") or "24h,15m"),
            smtp=SmtpSettings(
                host=get("SMTP_HOST") or None,
                port=_int(get("SMTP_PORT", "25"), "SMTP_PORT"),
                sender=get("SMTP_FROM") or "telehealth@localhost",
                username=get("SMTP_USERNAME") or None,
                password=get("SMTP_PASSWORD") or None,
                starttls=_bool(get("SMTP_STARTTLS")),
            ),
            sms=SmsSettings(
                webhook_url=get("SMS_WEBHOOK_URL") or None, token=get("SMS_WEBHOOK_TOKEN") or None
            ),
            consults=ConsultSettings(
                deadlines=parse_deadlines(
                    get("CONSULT_DEADLINES") or "routine=72h,urgent=24h,emergency=1h"
                ),
                attachment_max_bytes=_int(
                    get("ATTACHMENT_MAX_BYTES", str(50 * 1024 * 1024)), "ATTACHMENT_MAX_BYTES"
                ),
                watch_seconds=_positive(
                    get("CONSULT_WATCH_SECONDS", "60"), "CONSULT_WATCH_SECONDS"
                ),
                page_on_submit=parse_urgencies(
                    get("CONSULT_PAGE_ON_SUBMIT", "emergency") or "", "CONSULT_PAGE_ON_SUBMIT"
                ),
            ),
            rooms=_room_settings(get, port),
            teaching=TeachingSettings(
                certificate_share=_share(
                    get("TEACHING_CERTIFICATE_SHARE", "0.8"), "TEACHING_CERTIFICATE_SHARE"
                )
            ),
            relay=_relay_settings(get),
            client_timeouts=ClientTimeouts(
                header_seconds=_positive(
                    get("HEADER_TIMEOUT_SECONDS", "15"), "HEADER_TIMEOUT_SECONDS"
                ),
                body_seconds=_positive(get("BODY_TIMEOUT_SECONDS", "30"), "BODY_TIMEOUT_SECONDS"),
                upload_min_rate=_int(get("UPLOAD_MIN_RATE", "2048"), "UPLOAD_MIN_RATE"),
            ),
            audit=AuditSettings(
                chain_seconds=_positive(get("AUDIT_CHAIN_SECONDS", "1"), "AUDIT_CHAIN_SECONDS"),
                lease_seconds=_positive(get("AUDIT_LEASE_SECONDS", "10"), "AUDIT_LEASE_SECONDS"),
            ),
            db_pool=DatabasePool(
                size=_at_least(get("DB_POOL_SIZE", "10"), "DB_POOL_SIZE", 1),
                max_overflow=_at_least(get("DB_MAX_OVERFLOW", "10"), "DB_MAX_OVERFLOW", 0),
                recycle_seconds=_positive(
                    get("DB_POOL_RECYCLE_SECONDS", "1800"), "DB_POOL_RECYCLE_SECONDS"
                ),
                timeout_seconds=_positive(
                    get("DB_POOL_TIMEOUT_SECONDS", "30"), "DB_POOL_TIMEOUT_SECONDS"
                ),
            ),
            outbox=OutboxSettings(
                enabled=_bool(get("OUTBOX_ENABLED") or "true"),
                poll_seconds=_float(get("OUTBOX_POLL_SECONDS", "5"), "OUTBOX_POLL_SECONDS"),
                lease_seconds=_float(get("OUTBOX_LEASE_SECONDS", "60"), "OUTBOX_LEASE_SECONDS"),
            ),
        )


def _relay_settings(get: Callable[[str, str | None], str | None]) -> RelaySettings:
    workers = _int(get("RELAY_WORKERS", None) or str(os.cpu_count() or 1), "RELAY_WORKERS")
    streams = _int(get("RELAY_MAX_STREAMS", None) or "200", "RELAY_MAX_STREAMS")
    if workers < 1 or streams < 1:
        raise ConfigError(f"{ENV_PREFIX}RELAY_WORKERS and RELAY_MAX_STREAMS must be at least 1")
    return RelaySettings(workers=workers, max_streams_per_worker=streams)


def _room_settings(get: Callable[[str, str | None], str | None], port: int) -> RoomSettings:
    turn_secret = get("TURN_SECRET", None) or None
    turn_urls = tuple(u.strip() for u in (get("TURN_URLS", None) or "").split(",") if u.strip())
    if bool(turn_secret) != bool(turn_urls):
        raise ConfigError(f"{ENV_PREFIX}TURN_SECRET and {ENV_PREFIX}TURN_URLS must be set together")
    addresses = get("MEDIA_ADDRESSES", None) or ""
    media = tuple(a.strip() for a in addresses.split(",") if a.strip())
    for address in media:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}MEDIA_ADDRESSES: {address!r} is not an IP address"
            ) from None
    return RoomSettings(
        opens_before=timedelta(
            minutes=_positive(get("ROOM_OPENS_BEFORE_MINUTES", "60"), "ROOM_OPENS_BEFORE_MINUTES")
        ),
        grace=timedelta(seconds=_positive(get("ROOM_GRACE_SECONDS", "300"), "ROOM_GRACE_SECONDS")),
        join_token_lifetime=timedelta(
            seconds=_positive(get("JOIN_TOKEN_SECONDS", "600"), "JOIN_TOKEN_SECONDS")
        ),
        turn_secret=turn_secret,
        turn_urls=turn_urls,
        media_addresses=media,
        node_id=get("NODE_ID", None) or f"{socket.gethostname()}:{port}",
    )


def load_or_create_secret(data_dir: Path) -> str:
    """The secret key kept in the data directory, generated (mode 0600) on first run."""
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def parse_ice_servers(raw: str) -> tuple[IceServer, ...]:
    """Parse a JSON list like `[{"urls": ["stun:host:3478"]}]`."""
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{ENV_PREFIX}ICE_SERVERS is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ConfigError(f"{ENV_PREFIX}ICE_SERVERS must be a JSON list")
    servers = []
    for item in items:
        urls = item.get("urls") if isinstance(item, dict) else None
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ConfigError(f"{ENV_PREFIX}ICE_SERVERS entries need 'urls'")
        servers.append(IceServer(tuple(urls), item.get("username"), item.get("credential")))
    return tuple(servers)


def parse_offsets(raw: str) -> tuple[timedelta, ...]:
    """Parse reminder offsets like `24h,15m` (units d, h, m) into timedeltas, longest first."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    offsets = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        unit = units.get(part[-1:])
        try:
            amount = int(part[:-1])
        except ValueError:
            unit = None
        if unit is None or amount <= 0:
            raise ConfigError(f"{ENV_PREFIX}REMINDER_OFFSETS: cannot read {part!r} (try 24h,15m)")
        offsets.append(timedelta(**{unit: amount}))
    return tuple(sorted(set(offsets), reverse=True))


def parse_deadlines(raw: str) -> tuple[tuple[str, timedelta], ...]:
    """Parse `routine=72h,urgent=24h,emergency=1h`; every urgency must be given."""
    found: dict[str, timedelta] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = part.partition("=")
        try:
            (offset,) = parse_offsets(value)
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"{ENV_PREFIX}CONSULT_DEADLINES: cannot read {part!r}") from exc
        found[name.strip()] = offset
    missing = {"routine", "urgent", "emergency"} - set(found)
    if missing:
        raise ConfigError(f"{ENV_PREFIX}CONSULT_DEADLINES lacks {', '.join(sorted(missing))}")
    return tuple(sorted(found.items()))


def parse_urgencies(raw: str, name: str) -> tuple[str, ...]:
    """Parse a comma-separated list of urgencies (`emergency,urgent`); empty means none."""
    found = tuple(sorted({p.strip() for p in raw.split(",") if p.strip()}))
    unknown = set(found) - {"routine", "urgent", "emergency"}
    if unknown:
        raise ConfigError(f"{ENV_PREFIX}{name}: unknown urgency {', '.join(sorted(unknown))}")
    return found


def _bool(raw: str | None) -> bool:
    return (raw or "").strip().lower() in {"1", "true", "yes", "on"}


def _float(raw: str | None, name: str) -> float:
    try:
        return float(raw or "")
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a number, got {raw!r}") from exc


def _positive(raw: str | None, name: str) -> float:
    value = _float(raw, name)
    if not value > 0:  # NaN too
        raise ConfigError(f"{ENV_PREFIX}{name} must be more than 0, got {raw!r}")
    return value


def _share(raw: str | None, name: str) -> float:
    value = _positive(raw, name)
    if value > 1:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a share between 0 and 1, got {raw!r}")
    return value


def _int(raw: str | None, name: str) -> int:
    try:
        return int(raw or "")
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, got {raw!r}") from exc


def _at_least(raw: str | None, name: str, minimum: int) -> int:
    value = _int(raw, name)
    if value < minimum:
        raise ConfigError(f"{ENV_PREFIX}{name} must be at least {minimum}, got {raw!r}")
    return value


def _async_driver(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick the async drivers."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url
