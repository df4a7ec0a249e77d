"""Join tokens (signed, short-lived, bound to user, room, role and peer) and coturn's REST
credentials for TURN (`use-auth-secret`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from telehealth.errors import Unauthenticated

__all__ = ["JoinClaims", "JoinTokens", "TokenError", "turn_credentials"]

_PURPOSE = b"telehealth/rtc-join/v1"
MAX_TOKEN_CHARS = 1024


class TokenError(Unauthenticated):
    """A join token that is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class JoinClaims:
    """What a valid join token says."""

    user_id: str
    room_id: str
    role: str
    peer_id: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JoinTokens:
    """Issues and checks join tokens with a key derived from the server secret, so every
    node of one deployment (same secret) accepts every node's tokens."""

    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()

    def issue(self, claims: JoinClaims) -> str:
        """A token for `claims`."""
        body = {
            "u": claims.user_id,
            "r": claims.room_id,
            "role": claims.role,
            "p": claims.peer_id,
            "exp": int(claims.expires_at.timestamp()),
            "n": secrets.token_urlsafe(8),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: object, now: datetime) -> JoinClaims:
        """The claims of a genuine, unexpired token; `TokenError` otherwise."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenError("A join token is required.")
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise TokenError("The join token is not valid.")
        try:
            body = json.loads(_unb64(payload))
            claims = JoinClaims(
                user_id=str(body["u"]),
                room_id=str(body["r"]),
                role=str(body["role"]),
                peer_id=str(body["p"]),
                expires_at=datetime.fromtimestamp(int(body["exp"]), UTC),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("The join token is not valid.") from exc
        if claims.expires_at <= now:
            raise TokenError("The join token has expired; ask for a new one.")
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def turn_credentials(secret: str, user_id: str, expires_at: datetime) -> tuple[str, str]:
    """coturn REST credentials: username `<expiry>:<user>`, password
    base64(HMAC-SHA1(secret, username)); coturn refuses them after the expiry."""
    username = f"{int(expires_at.timestamp())}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()
