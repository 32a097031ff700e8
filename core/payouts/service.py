"""Schedules, payout runs and the payout lifecycle: created -> in_transit -> paid | failed.

A payout contains every AVAILABLE balance transaction of its currency not yet in a payout; its amount is
their sum. The scan takes those rows FOR UPDATE SKIP LOCKED under the per-(tenant, currency) ledger lock,
and a scheduled run's `run_key` is unique, so two runs started together create one payout.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import actions
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventType
from core.ids import has_prefix, new_id
from core.ledger import service as ledger
from core.ledger.models import BalanceTransaction, TxnStatus, TxnType
from core.money import amount_text, validate_amount, validate_currency
from core.payouts import bank_accounts
from core.payouts.edge import Ctx, Ref, audit, emit
from core.payouts.models import Interval, Payout, PayoutSchedule, PayoutStatus

#: How long the sandbox bank takes to confirm (or return) a payout once it is in transit.
SANDBOX_SETTLE_AFTER: Final = timedelta(minutes=1)


# --- schedules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    currency: str
    interval: Interval
    weekly_anchor: int | None = None
    monthly_anchor: int | None = None
    minimum_amount: int = 0


def schedule_for(session: Session, *, tenant_id: str, currency: str) -> Schedule:
    """The tenant's schedule in `currency`: daily with no minimum unless set."""
    row = session.get(PayoutSchedule, (tenant_id, currency))
    if row is None:
        return Schedule(currency, Interval.DAILY)
    return Schedule(currency, row.interval, row.weekly_anchor, row.monthly_anchor, row.minimum_amount)


def set_schedule(
    session: Session,
    ctx: Ctx,
    *,
    tenant_id: str,
    currency: str,
    interval: str,
    weekly_anchor: int | None = None,
    monthly_anchor: int | None = None,
    minimum_amount: int = 0,
) -> PayoutSchedule:
    code = validate_currency(currency)
    try:
        kind = Interval(interval)
    except ValueError:
        raise InvalidInput("interval is one of daily, weekly, monthly, manual", param="interval") from None
    if kind is Interval.WEEKLY and (weekly_anchor is None or not 0 <= weekly_anchor <= 6):
        raise InvalidInput(
            "A weekly schedule needs a weekday (0 = Monday ... 6 = Sunday).", param="weekly_anchor"
        )
    if kind is Interval.MONTHLY and (monthly_anchor is None or not 1 <= monthly_anchor <= 31):
        raise InvalidInput(
            "A monthly schedule needs a day of the month from 1 to 31.", param="monthly_anchor"
        )
    minimum = validate_amount(minimum_amount, code, param="minimum_amount", minimum=0)
    row = session.get(PayoutSchedule, (tenant_id, code))
    if row is None:
        row = PayoutSchedule(tenant_id=tenant_id, id=code)
        session.add(row)
    row.interval = kind
    row.weekly_anchor = weekly_anchor if kind is Interval.WEEKLY else None
    row.monthly_anchor = monthly_anchor if kind is Interval.MONTHLY else None
    row.minimum_amount = minimum
    row.updated_at = ctx.clock.now()
    session.flush()
    audit(
        session,
        ctx,
        actions.PAYOUT_SCHEDULE_UPDATED,
        subject=Ref("payout_schedule", code, tenant_id),
        details={
            "interval": str(kind),
            "weekly_anchor": row.weekly_anchor,
            "monthly_anchor": row.monthly_anchor,
            "minimum_amount": minimum,
        },
    )
    return row


def is_due(schedule: Schedule, day: date) -> bool:
    """Whether an automatic payout runs on `day` (UTC)."""
    if schedule.interval is Interval.DAILY:
        return True
    if schedule.interval is Interval.WEEKLY:
        return day.weekday() == schedule.weekly_anchor
    if schedule.interval is Interval.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(schedule.monthly_anchor or 1, last)
    return False


# --- creating payouts ------------------------------------------------------------------------------


def _unpaid(session: Session, *, tenant_id: str, currency: str) -> list[BalanceTransaction]:
    query = (
        select(BalanceTransaction)
        .where(
            BalanceTransaction.tenant_id == tenant_id,
            BalanceTransaction.currency == currency,
            BalanceTransaction.status == TxnStatus.AVAILABLE,
            BalanceTransaction.payout_id.is_(None),
        )
        .order_by(BalanceTransaction.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def available_for_payout(session: Session, *, tenant_id: str, currency: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(BalanceTransaction.net), 0)).where(
            BalanceTransaction.tenant_id == tenant_id,
            BalanceTransaction.currency == currency,
            BalanceTransaction.status == TxnStatus.AVAILABLE,
            BalanceTransaction.payout_id.is_(None),
        )
    )
    return int(total or 0)


def create_payout(
    session: Session,
    ctx: Ctx,
    *,
    tenant_id: str,
    currency: str,
    run_key: str | None = None,
    amount: int | None = None,
    minimum_amount: int = 0,
    created_by: str | None = None,
    livemode: bool = False,
) -> Payout | None:
    """Pay out the available funds in `currency` (all of them, or `amount` of them).

    Automatic runs (`run_key` given) return None when there is nothing (or less than the minimum) to pay
    or another run holds the rows; a manual payout (`amount`) raises a clear error instead.
    """
    manual = run_key is None
    currency = validate_currency(currency)
    if amount is not None:
        amount = validate_amount(amount, currency)
    account = bank_accounts.active_account(session, tenant_id=tenant_id, currency=currency)
    if account is None:
        if manual:
            raise Conflict(f"Add a {currency} bank account before paying out.")
        return None
    ledger.lock_balances(session, tenant_id=tenant_id, currency=currency)
    lines = _unpaid(session, tenant_id=tenant_id, currency=currency)
    total = sum(line.net for line in lines)
    wanted = total if amount is None else amount
    if wanted > total or wanted <= 0 or (not manual and wanted < minimum_amount):
        if manual:
            raise Conflict(
                f"Only {amount_text(max(total, 0), currency)} is available for a payout in {currency}."
            )
        return None
    payout_id = new_id("po")
    now = ctx.clock.now()
    payout = Payout(
        tenant_id=tenant_id,
        id=payout_id,
        amount=wanted,
        currency=currency,
        status=PayoutStatus.CREATED,
        method="manual" if manual else "automatic",
        run_key=run_key or f"manual:{payout_id}",
        bank_account_id=account.id,
        arrival_date=ledger.add_business_days(now.date(), 1),
        created_by=created_by,
        created_at=now,
        livemode=livemode,
    )
    if session.get_bind().dialect.name == "postgresql":
        try:
            with session.begin_nested():
                session.add(payout)
        except IntegrityError:
            return None  # this run's payout exists already (a concurrent or repeated run)
    else:
        session.add(payout)
        session.flush()
    for line in lines:
        line.payout_id = payout_id
    if wanted < total:
        # The rest waits for the next payout: one line inside this payout, its opposite outside.
        rest = total - wanted
        for amount, inside in ((-rest, payout_id), (rest, None)):
            ledger.add_transaction(
                session,
                tenant_id=tenant_id,
                type=TxnType.PAYOUT_CARRY,
                amount=amount,
                fee=0,
                currency=currency,
                source_id=payout_id,
                journal=None,
                clock=ctx.clock,
                payout_id=inside,
                livemode=livemode,
            )
    ledger.record_payout(
        session,
        tenant_id=tenant_id,
        payout_id=payout_id,
        amount=wanted,
        currency=currency,
        clock=ctx.clock,
        livemode=livemode,
    )
    session.flush()
    audit(
        session,
        ctx,
        actions.PAYOUT_CREATED,
        subject=payout,
        details={"amount": wanted, "currency": currency, "method": payout.method, "lines": len(lines)},
    )
    emit(session, ctx, EventType.PAYOUT_CREATED, subject=payout, data=serialize(payout))
    return payout


def run_scheduled(session: Session, ctx: Ctx, *, tenant_id: str) -> list[Payout]:
    """The cron step: settle what is due, then pay each currency whose schedule runs today."""
    ledger.settle_due(session, tenant_id=tenant_id, clock=ctx.clock)
    today = ctx.clock.now().date()
    currencies = session.scalars(
        select(BalanceTransaction.currency)
        .where(
            BalanceTransaction.tenant_id == tenant_id,
            BalanceTransaction.payout_id.is_(None),
            BalanceTransaction.status == TxnStatus.AVAILABLE,
        )
        .distinct()
    ).all()
    made = []
    for currency in sorted(currencies):
        schedule = schedule_for(session, tenant_id=tenant_id, currency=currency)
        if not is_due(schedule, today):
            continue
        payout = create_payout(
            session,
            ctx,
            tenant_id=tenant_id,
            currency=currency,
            run_key=f"auto:{currency}:{today.isoformat()}",
            minimum_amount=schedule.minimum_amount,
        )
        if payout is not None:
            made.append(payout)
    return made


# --- lifecycle (the sandbox bank) -------------------------------------------------------------------


def _status(session: Session, ctx: Ctx, payout: Payout, status: PayoutStatus, **details: object) -> None:
    before = payout.status
    payout.status = status
    session.flush()
    audit(
        session,
        ctx,
        actions.PAYOUT_STATUS_CHANGED,
        subject=payout,
        details={"from": str(before), "to": str(status), **details},
    )


def advance(session: Session, ctx: Ctx, *, tenant_id: str) -> int:
    """Move the tenant's payouts along in the sandbox: created -> in_transit at once; in_transit ->
    paid (or failed, for the failing test accounts) once SANDBOX_SETTLE_AFTER has passed."""
    now = ctx.clock.now()
    query = (
        select(Payout)
        .where(
            Payout.tenant_id == tenant_id, Payout.status.in_([PayoutStatus.CREATED, PayoutStatus.IN_TRANSIT])
        )
        .order_by(Payout.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    moved = 0
    for payout in session.scalars(query).all():
        if payout.status is PayoutStatus.CREATED:
            payout.in_transit_at = now
            _status(session, ctx, payout, PayoutStatus.IN_TRANSIT)
            moved += 1
            continue
        assert payout.in_transit_at is not None
        if now < payout.in_transit_at + SANDBOX_SETTLE_AFTER:
            continue
        account = bank_accounts.get(session, tenant_id=tenant_id, bank_account_id=payout.bank_account_id)
        outcome = bank_accounts.sandbox_outcome(session, ctx, account)
        if outcome is None:
            mark_paid(session, ctx, payout)
        else:
            mark_failed(session, ctx, payout, code=outcome[0], message=outcome[1])
        moved += 1
    return moved


def mark_paid(session: Session, ctx: Ctx, payout: Payout) -> Payout:
    if payout.status is not PayoutStatus.IN_TRANSIT:
        raise Conflict(f"A {payout.status} payout cannot be marked paid.")
    ledger.record_payout_paid(
        session,
        tenant_id=payout.tenant_id,
        payout_id=payout.id,
        amount=payout.amount,
        currency=payout.currency,
        clock=ctx.clock,
    )
    payout.paid_at = ctx.clock.now()
    _status(session, ctx, payout, PayoutStatus.PAID)
    emit(session, ctx, EventType.PAYOUT_PAID, subject=payout, data=serialize(payout))
    return payout


def mark_failed(session: Session, ctx: Ctx, payout: Payout, *, code: str, message: str) -> Payout:
    """The bank returned the payout: the funds go back to available (and into the next payout)."""
    if payout.status not in (PayoutStatus.CREATED, PayoutStatus.IN_TRANSIT):
        raise Conflict(f"A {payout.status} payout cannot fail.")
    ledger.record_payout_failed(
        session,
        tenant_id=payout.tenant_id,
        payout_id=payout.id,
        amount=payout.amount,
        currency=payout.currency,
        clock=ctx.clock,
        livemode=payout.livemode,
    )
    payout.failed_at = ctx.clock.now()
    payout.failure_code = code
    payout.failure_message = message
    _status(session, ctx, payout, PayoutStatus.FAILED, failure_code=code)
    emit(session, ctx, EventType.PAYOUT_FAILED, subject=payout, data=serialize(payout))
    return payout


# --- reading ---------------------------------------------------------------------------------------


def get(session: Session, *, tenant_id: str, payout_id: str) -> Payout:
    row = session.get(Payout, (tenant_id, payout_id)) if has_prefix(payout_id, "po") else None
    if row is None:
        raise NotFound("No such payout.", param="payout")
    return row


def transactions_of(session: Session, *, tenant_id: str, payout_id: str) -> list[BalanceTransaction]:
    """The balance transactions a payout contains (its own `payout` line not among them)."""
    return list(
        session.scalars(
            select(BalanceTransaction)
            .where(
                BalanceTransaction.tenant_id == tenant_id,
                BalanceTransaction.payout_id == payout_id,
                BalanceTransaction.type != TxnType.PAYOUT,
            )
            .order_by(BalanceTransaction.id)
        )
    )


def serialize(payout: Payout) -> dict[str, object]:
    return {
        "id": payout.id,
        "object": "payout",
        "amount": payout.amount,
        "currency": payout.currency,
        "status": str(payout.status),
        "method": payout.method,
        "arrival_date": payout.arrival_date.isoformat(),
        "bank_account": payout.bank_account_id,
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "created_at": int(payout.created_at.timestamp()),
        "livemode": payout.livemode,
    }


def serialize_transaction(txn: BalanceTransaction) -> dict[str, object]:
    return {
        "id": txn.id,
        "object": "balance_transaction",
        "type": str(txn.type),
        "amount": txn.amount,
        "fee": txn.fee,
        "net": txn.net,
        "currency": txn.currency,
        "status": str(txn.status),
        "source": txn.source_id,
        "payout": txn.payout_id,
        "available_on": int(txn.available_on.timestamp()),
        "created_at": int(txn.created_at.timestamp()),
    }
