"""argon2id hashing with the configured parameters."""

from __future__ import annotations

from telehealth.auth.passwords import PasswordHasher
from telehealth.config import PasswordPolicy


async def test_hash_is_argon2id_with_the_policy_parameters() -> None:
    hasher = PasswordHasher(PasswordPolicy())
    hashed = await hasher.hash("a long enough password")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify(hashed, "a long enough password")
    assert not await hasher.verify(hashed, "a long enough passwore")


async def test_missing_hash_never_verifies() -> None:
    hasher = PasswordHasher(PasswordPolicy(time_cost=1, memory_cost_kib=8))
    assert not await hasher.verify(None, "not-a-real-password")


async def test_weaker_hashes_are_flagged_for_rehash() -> None:
    weak = await PasswordHasher(PasswordPolicy(time_cost=1, memory_cost_kib=8)).hash("pw")
    assert PasswordHasher(PasswordPolicy()).needs_rehash(weak)
