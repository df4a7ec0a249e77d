"""Every Socket.IO event answers with one envelope, whatever the handler does."""

from __future__ import annotations

from typing import Any

from telehealth.errors import ErrorCode, NotFound
from telehealth.signalling.envelope import acknowledged


class Namespace:
    @acknowledged
    async def on_fine(self, sid: str, data: Any) -> dict[str, str]:
        return {"echo": data}

    @acknowledged
    async def on_missing(self, sid: str, data: Any) -> None:
        raise NotFound("No such room.")

    @acknowledged
    async def on_broken(self, sid: str, data: Any) -> None:
        raise KeyError("internal detail")


async def test_success_failure_and_crash_all_answer() -> None:
    ns = Namespace()
    assert await ns.on_fine("s", "x") == {"ok": True, "data": {"echo": "x"}}
    assert await ns.on_missing("s", {}) == {
        "ok": False,
        "error": {"code": ErrorCode.NOT_FOUND.value, "detail": "No such room."},
    }
    crashed = await ns.on_broken("s", {})
    assert crashed["ok"] is False
    assert crashed["error"]["code"] == "internal_error"
    assert "internal detail" not in str(crashed)
