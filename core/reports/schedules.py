"""Scheduled exports: a member with reports:read asks for an export (kind, period, frequency, recipients
among the team); `kassa cron` makes each file when it is due and emails every recipient a signed download
link (tenants/report_exports.py sends them: who may still read reports is the tenants layer's to say).

A file is only what it covers (`ReportExportFile`: kind, mode, days); the CSV is streamed from the rows
when the link is followed (exports.py, constant memory), never stored. The link is a signed token of the
tenant, the file, the recipient and the expiry (itsdangerous, keyed with the app's secret key and a salt of
its own): it opens that one file only, for that recipient while they may still read reports, until it
expires. Every step is audited.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Context
from core.errors import InvalidInput, NotFound
from core.ids import new_id
from core.reports import exports
from core.reports.models import ReportExportFile, ReportSchedule
from core.reports.queries import Filters

EMAIL_JOB: Final = "tenants.report_exports.send_export_link"
FREQUENCIES: Final = {"daily": "Every day", "weekly": "Every Monday", "monthly": "On the 1st of each month"}
PERIODS: Final = {
    "previous": "The previous period",
    "last_7_days": "The last 7 days",
    "last_30_days": "The last 30 days",
}
KINDS: Final = {
    "payments": "Payments (CSV)",
    "refunds": "Refunds (CSV)",
    "journal": "Accounting journal (CSV)",
    "xero": "Xero manual journal (CSV)",
}
#: Files are made at this UTC hour of their day, after the period they cover has ended.
RUN_HOUR: Final = 6
#: How long an emailed link works.
LINK_DAYS: Final = 7
#: Most schedules a tenant's mode may hold, and recipients one schedule may have.
MAX_SCHEDULES: Final = 20
MAX_RECIPIENTS: Final = 20
_SALT: Final = "kassa.reports.export-link"


def next_run(after: datetime, frequency: str) -> datetime:
    """The first run time strictly after `after`: 06:00 UTC of the next day, next Monday or next 1st."""
    day = after.date()
    while True:
        candidate = datetime.combine(day, time(RUN_HOUR), tzinfo=after.tzinfo)
        fits = (
            frequency == "daily"
            or (frequency == "weekly" and day.weekday() == 0)
            or (frequency == "monthly" and day.day == 1)
        )
        if fits and candidate > after:
            return candidate
        day += timedelta(days=1)


def covered(frequency: str, period: str, run_day: date) -> tuple[date, date]:
    """The days (inclusive) a file made on `run_day` covers: every period ends the day before."""
    end = run_day - timedelta(days=1)
    if period == "last_7_days":
        return end - timedelta(days=6), end
    if period == "last_30_days":
        return end - timedelta(days=29), end
    if frequency == "weekly":
        return end - timedelta(days=6), end
    if frequency == "monthly":
        return end.replace(day=1), end
    return end, end


def _choice(value: str, allowed: dict[str, str], param: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{param} must be one of {', '.join(allowed)}.", param=param)
    return value


def create(
    session: Session,
    ctx: Context,
    *,
    livemode: bool,
    kind: str,
    period: str,
    frequency: str,
    recipients: Sequence[str],
    allowed_recipients: set[str],
    created_by: str,
) -> ReportSchedule:
    """A new schedule; `allowed_recipients` are the members who may read reports (the caller's to say)."""
    _choice(kind, KINDS, "kind")
    _choice(period, PERIODS, "period")
    _choice(frequency, FREQUENCIES, "frequency")
    chosen = sorted(set(recipients))
    if not chosen:
        raise InvalidInput("Choose at least one recipient.", param="recipients")
    if len(chosen) > MAX_RECIPIENTS:
        raise InvalidInput(f"A schedule has at most {MAX_RECIPIENTS} recipients.", param="recipients")
    if not set(chosen) <= allowed_recipients:
        raise InvalidInput("Recipients must be members of the team who may read reports.", param="recipients")
    if len(list_schedules(session, livemode=livemode)) >= MAX_SCHEDULES:
        raise InvalidInput(f"A mode holds at most {MAX_SCHEDULES} scheduled exports.", param="kind")
    now = ctx.clock.now()
    schedule = ReportSchedule(
        id=new_id("rsch"),
        livemode=livemode,
        kind=kind,
        period=period,
        frequency=frequency,
        recipients=chosen,
        created_by=created_by,
        created_at=now,
        next_run_at=next_run(now, frequency),
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        ctx,
        actions.REPORT_SCHEDULE_CREATED,
        subject=schedule,
        details={"kind": kind, "period": period, "frequency": frequency, "recipients": len(chosen)},
    )
    return schedule


def list_schedules(session: Session, *, livemode: bool) -> list[ReportSchedule]:
    return list(
        session.scalars(
            select(ReportSchedule)
            .where(ReportSchedule.livemode == livemode, ReportSchedule.deleted_at.is_(None))
            .order_by(ReportSchedule.created_at, ReportSchedule.id)
        )
    )


def delete(session: Session, ctx: Context, *, schedule_id: str, livemode: bool) -> ReportSchedule:
    schedule = session.scalar(
        select(ReportSchedule)
        .where(
            ReportSchedule.id == schedule_id,
            ReportSchedule.livemode == livemode,
            ReportSchedule.deleted_at.is_(None),
        )
        .with_for_update()
    )
    if schedule is None:
        raise NotFound("There is no such scheduled export.", param="schedule")
    schedule.deleted_at = ctx.clock.now()
    session.flush()
    audit.record(
        session, ctx, actions.REPORT_SCHEDULE_DELETED, subject=schedule, details={"kind": schedule.kind}
    )
    return schedule


def run_due(session: Session, ctx: Context) -> list[ReportExportFile]:
    """Make the file of every schedule that is due (the current tenant's), queue its emails and move the
    schedule to its next run. Rows are claimed with SKIP LOCKED, so two cron runs never make one twice."""
    now = ctx.clock.now()
    due = session.scalars(
        select(ReportSchedule)
        .where(ReportSchedule.deleted_at.is_(None), ReportSchedule.next_run_at <= now)
        .order_by(ReportSchedule.next_run_at, ReportSchedule.id)
        .with_for_update(skip_locked=True)
    ).all()
    return [produce(session, ctx, schedule) for schedule in due]


def produce(session: Session, ctx: Context, schedule: ReportSchedule) -> ReportExportFile:
    now = ctx.clock.now()
    start, end = covered(schedule.frequency, schedule.period, schedule.next_run_at.date())
    made = ReportExportFile(
        id=new_id("rexp"),
        schedule_id=schedule.id,
        livemode=schedule.livemode,
        kind=schedule.kind,
        start=start,
        end=end,
        created_at=now,
        expires_at=now + timedelta(days=LINK_DAYS),
    )
    session.add(made)
    schedule.last_run_at = now
    schedule.next_run_at = next_run(max(now, schedule.next_run_at), schedule.frequency)
    session.flush()
    for user_id in schedule.recipients:
        ctx.jobs.enqueue(
            EMAIL_JOB,
            tenant_id=schedule.tenant_id,
            kwargs={"tenant_id": schedule.tenant_id, "file_id": made.id, "user_id": user_id},
        )
    audit.record(
        session,
        ctx,
        actions.REPORT_SCHEDULED_EXPORT_PRODUCED,
        subject=made,
        details={
            "schedule": schedule.id,
            "kind": made.kind,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "recipients": len(schedule.recipients),
        },
    )
    return made


def get_file(session: Session, *, file_id: str) -> ReportExportFile | None:
    return session.scalar(select(ReportExportFile).where(ReportExportFile.id == file_id))


# --- the signed link -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    tenant_id: str
    file_id: str
    user_id: str
    expires_at: datetime


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def sign(secret_key: str, made: ReportExportFile, *, user_id: str) -> str:
    """The token of `made`'s link for one recipient."""
    return str(
        _serializer(secret_key).dumps(
            {"t": made.tenant_id, "f": made.id, "u": user_id, "e": int(made.expires_at.timestamp())}
        )
    )


INVALID: Final = "This download link is not valid. Ask for a new export on the Reports page."
EXPIRED: Final = "This download link has expired. Ask for a new export on the Reports page."


def read(secret_key: str, token: str, *, now: datetime) -> Link:
    """The link a token names; NotFound when it was not signed by us or has expired."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        raise NotFound(INVALID, param="token") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("t", "f", "u")):
        raise NotFound(INVALID, param="token")
    if not isinstance(data.get("e"), int):
        raise NotFound(INVALID, param="token")
    expires = datetime.fromtimestamp(data["e"], tz=now.tzinfo)
    if now >= expires:
        raise NotFound(EXPIRED, param="token")
    return Link(data["t"], data["f"], data["u"], expires)


def check_file(session: Session, link: Link, *, now: datetime) -> ReportExportFile:
    """The file the link opens (the tenant bound to the session already), still within its expiry."""
    made = get_file(session, file_id=link.file_id)
    if made is None or made.tenant_id != link.tenant_id:
        raise NotFound(INVALID, param="token")
    if now >= made.expires_at:
        raise NotFound(EXPIRED, param="token")
    return made


def filename(made: ReportExportFile) -> str:
    return f"kassa-{made.kind}-{made.start.isoformat()}-{made.end.isoformat()}.csv"


def stream(session: Session, made: ReportExportFile) -> Iterator[str]:
    """The file's CSV, line by line, from the rows as they are (exports.py: a server-side cursor)."""
    f = Filters(livemode=made.livemode, start=made.start, end=made.end)
    yield from exports.export(session, made.kind, f, {})
