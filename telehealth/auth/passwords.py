"""argon2id password hashing, run off the event loop."""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from telehealth.config import PasswordPolicy


class PasswordHasher:
    """Hashes and verifies passwords; every call runs in a worker thread."""

    def __init__(self, policy: PasswordPolicy) -> None:
        self.policy = policy
        self._hasher = argon2.PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_cost_kib,
            parallelism=policy.parallelism,
            type=argon2.Type.ID,
        )
        # Verified against when the user does not exist, so both paths cost the same.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str) -> str:
        """A new argon2id hash of `password`."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if `password` matches; a missing hash costs a dummy verification."""
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than the policy's."""
        return self._hasher.check_needs_rehash(password_hash)
