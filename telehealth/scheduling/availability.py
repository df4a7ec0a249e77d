"""Availability use cases: weekly rules, one-off blocks, conflicts and calendar feeds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import InvalidInput, NotFound
from telehealth.scheduling import policy
from telehealth.scheduling import schemas as s
from telehealth.scheduling.free import PractitionerRow, find_conflicts, weekly
from telehealth.scheduling.models import (
    AppointmentStatus,
    AvailabilityBlock,
    AvailabilityRule,
    CalendarFeed,
)
from telehealth.scheduling.render import render_appointments
from telehealth.scheduling.repository import SchedulingRepository
from telehealth.scheduling.slots import (
    rules_overlap,
)


class AvailabilityService:
    """A practitioner's rules and blocks, managed by them or their coordinators."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def _managed(
        self, repo: SchedulingRepository, principal: Principal, practitioner_id: str
    ) -> PractitionerRow:
        row = await repo.practitioner(practitioner_id)
        if row is None:
            raise NotFound("No such practitioner schedule.")
        policy.ensure_may_manage_schedule(principal, row[1].id, row[2].id)
        return row

    async def availability(self, principal: Principal, practitioner_id: str) -> s.AvailabilityOut:
        """Rules, upcoming blocks and conflicts of a schedule (its managers only)."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await self._managed(repo, principal, practitioner_id)
            return await self._availability_out(repo, row)

    async def set_availability(
        self, principal: Principal, ctx: AuditContext, practitioner_id: str, data: s.AvailabilityIn
    ) -> s.AvailabilityOut:
        """Replace the weekly rules; booked appointments are kept and reported as conflicts."""
        today = self._clock().astimezone(ZoneInfo(self._settings.default_timezone)).date()
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await self._managed(repo, principal, practitioner_id)
            rules = [_rule_row(practitioner_id, r, today) for r in data.rules]
            clash = rules_overlap([weekly(r) for r in rules])
            if clash:
                raise InvalidInput(
                    f"Two rules on weekday {clash[0].weekday} overlap "
                    f"({clash[0].start}-{clash[0].end} and {clash[1].start}-{clash[1].end})."
                )
            await repo.replace_rules(practitioner_id, rules)
            await AuditLog(uow.session, ctx).record(
                "availability.replace", "practitioner", practitioner_id, {"rules": len(rules)}
            )
            out = await self._availability_out(repo, row)
            await uow.commit()
            return out

    async def add_block(
        self, principal: Principal, ctx: AuditContext, practitioner_id: str, data: s.BlockIn
    ) -> s.AvailabilityOut:
        """Add a one-off absence; bookings inside it become conflicts, never cancelled."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await self._managed(repo, principal, practitioner_id)
            block = AvailabilityBlock(
                practitioner_id=practitioner_id,
                start_at=data.start,
                end_at=data.end,
                reason=data.reason,
            )
            repo.add(block)
            await uow.flush()
            await AuditLog(uow.session, ctx).record(
                "availability.block", "practitioner", practitioner_id, {"block_id": block.id}
            )
            out = await self._availability_out(repo, row)
            await uow.commit()
            return out

    async def remove_block(
        self, principal: Principal, ctx: AuditContext, practitioner_id: str, block_id: str
    ) -> s.AvailabilityOut:
        """Remove an absence."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await self._managed(repo, principal, practitioner_id)
            block = await repo.block(block_id)
            if block is None or block.practitioner_id != practitioner_id:
                raise NotFound("No such block.")
            await repo.delete_block(block)
            await AuditLog(uow.session, ctx).record(
                "availability.unblock", "practitioner", practitioner_id, {"block_id": block_id}
            )
            out = await self._availability_out(repo, row)
            await uow.commit()
            return out

    async def _availability_out(
        self, repo: SchedulingRepository, row: PractitionerRow
    ) -> s.AvailabilityOut:
        practitioner, _user, facility = row
        now = self._clock()
        rules = await repo.rules([practitioner.id])
        blocks = await repo.blocks([practitioner.id], now, None)
        upcoming = await repo.active_from(practitioner.id, now)
        conflicts = find_conflicts(upcoming, rules, blocks, ZoneInfo(facility.timezone))
        _users, patients = await repo.people(set(), {a.patient_id for a in conflicts})
        tz = ZoneInfo(facility.timezone)
        return s.AvailabilityOut(
            practitioner_id=practitioner.id,
            timezone=facility.timezone,
            rules=[
                s.RuleOut(
                    id=r.id,
                    weekday=r.weekday,
                    start=r.start_time,
                    end=r.end_time,
                    slot_minutes=r.slot_minutes,
                    breaks=[(time.fromisoformat(a), time.fromisoformat(b)) for a, b in r.breaks],
                    valid_from=r.valid_from,
                    valid_until=r.valid_until,
                )
                for r in rules
            ],
            blocks=[
                s.BlockOut(
                    id=b.id,
                    start=b.start_at.astimezone(tz),
                    end=b.end_at.astimezone(tz),
                    reason=b.reason,
                )
                for b in blocks
            ],
            conflicts=[
                s.AppointmentBrief(
                    id=a.id,
                    start=a.start_at.astimezone(tz),
                    end=a.end_at.astimezone(tz),
                    status=AppointmentStatus(a.status),
                    patient=s.PersonRef(
                        id=a.patient_id, full_name=patients[a.patient_id].full_name
                    ),
                )
                for a in conflicts
            ],
        )

    async def feed_appointments(
        self, ctx: AuditContext, token_hash: str
    ) -> tuple[list[s.AppointmentOut], str] | None:
        """Upcoming appointments of the practitioner a feed secret belongs to; the read is
        audited (no actor: the secret is the credential) naming the appointments shown."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            feed = await repo.feed_by_token_hash(token_hash)
            if feed is None:
                return None
            row = await repo.practitioner(feed.practitioner_id)
            if row is None:
                return None
            since = self._clock() - timedelta(days=7)
            appts = await render_appointments(
                repo, await repo.active_from(feed.practitioner_id, since)
            )
            if appts:
                await AuditLog(uow.session, ctx).record(
                    "calendar_feed.read",
                    "practitioner",
                    feed.practitioner_id,
                    {"ids": [a.id for a in appts]},
                )
                await uow.commit()
            return appts, row[2].timezone

    async def rotate_feed(
        self, principal: Principal, ctx: AuditContext, practitioner_id: str, token_hash: str | None
    ) -> None:
        """Set (or with None, revoke) the secret of a practitioner's calendar feed."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            await self._managed(repo, principal, practitioner_id)
            feed = await repo.feed(practitioner_id)
            if feed is not None:
                await uow.session.delete(feed)
                await uow.flush()
            if token_hash is not None:
                repo.add(CalendarFeed(practitioner_id=practitioner_id, token_hash=token_hash))
            action = "calendar_feed.rotate" if token_hash else "calendar_feed.revoke"
            await AuditLog(uow.session, ctx).record(action, "practitioner", practitioner_id)
            await uow.commit()


def _rule_row(practitioner_id: str, rule: s.RuleIn, today: date) -> AvailabilityRule:
    return AvailabilityRule(
        practitioner_id=practitioner_id,
        weekday=rule.weekday,
        start_time=rule.start,
        end_time=rule.end,
        slot_minutes=rule.slot_minutes,
        breaks=[[b.start.strftime("%H:%M"), b.end.strftime("%H:%M")] for b in rule.breaks],
        valid_from=rule.valid_from or today,
        valid_until=rule.valid_until,
    )
