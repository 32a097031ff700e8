"""The home dashboard's figures for one mode: today and the last 7 days (UTC days), per currency.

Volume is what succeeded (captured amounts, refunded ones included: the gross), count is the payments
that succeeded, approval rate is succeeded over those that reached a decision (succeeded, refunded or
failed), refunds are the refunds that succeeded. Each figure has one value per day for its sparkline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.payments.models import Payment, PaymentStatus, Refund, RefundStatus

DAYS = 7
_SUCCEEDED = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
_DECIDED = (*_SUCCEEDED, PaymentStatus.FAILED)


@dataclass(frozen=True)
class CurrencyFigures:
    currency: str
    days: list[date]
    #: Minor units per day, oldest first (the last is today).
    volume: list[int]
    count: list[int]
    refunded: list[int]

    @property
    def volume_today(self) -> int:
        return self.volume[-1]

    @property
    def count_today(self) -> int:
        return self.count[-1]


@dataclass(frozen=True)
class Dashboard:
    days: list[date]
    currencies: list[CurrencyFigures]
    #: Succeeded / decided over the 7 days, per day (None: nothing decided that day).
    approval: list[float | None]
    recent: list[Payment]
    #: Authorized payments waiting for a capture or a cancel: what needs someone.
    to_capture: int

    @property
    def approval_week(self) -> float | None:
        known = [a for a in self.approval if a is not None]
        return sum(known) / len(known) if known else None


def dashboard(session: Session, *, livemode: bool, now: datetime) -> Dashboard:
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    day = func.date(Payment.created_at)
    rows = session.execute(
        select(
            day,
            Payment.currency,
            Payment.status,
            func.count(),
            func.coalesce(func.sum(Payment.amount_captured), 0),
        )
        .where(Payment.livemode == livemode, Payment.created_at >= since, Payment.status.in_(_DECIDED))
        .group_by(day, Payment.currency, Payment.status)
    ).all()
    volume: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    count: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    decided: dict[date, int] = defaultdict(int)
    approved: dict[date, int] = defaultdict(int)
    for when, currency, status, n, captured in rows:
        when = when if isinstance(when, date) else date.fromisoformat(str(when))
        decided[when] += n
        if status in _SUCCEEDED:
            approved[when] += n
            volume[currency][when] += int(captured)
            count[currency][when] += n
    refund_day = func.date(Refund.created_at)
    refunded: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for when, currency, total in session.execute(
        select(refund_day, Refund.currency, func.sum(Refund.amount))
        .join(Payment, (Payment.tenant_id == Refund.tenant_id) & (Payment.id == Refund.payment_id))
        .where(
            Payment.livemode == livemode, Refund.created_at >= since, Refund.status == RefundStatus.SUCCEEDED
        )
        .group_by(refund_day, Refund.currency)
    ).all():
        when = when if isinstance(when, date) else date.fromisoformat(str(when))
        refunded[currency][when] += int(total)
    currencies = sorted(set(volume) | set(refunded))
    recent = list(
        session.scalars(
            select(Payment).where(Payment.livemode == livemode).order_by(Payment.id.desc()).limit(5)
        )
    )
    to_capture = session.scalar(
        select(func.count()).where(Payment.livemode == livemode, Payment.status == PaymentStatus.AUTHORIZED)
    )
    return Dashboard(
        days=days,
        currencies=[
            CurrencyFigures(
                currency=c,
                days=days,
                volume=[volume[c][d] for d in days],
                count=[count[c][d] for d in days],
                refunded=[refunded[c][d] for d in days],
            )
            for c in currencies
        ],
        approval=[approved[d] / decided[d] if decided[d] else None for d in days],
        recent=recent,
        to_capture=int(to_capture or 0),
    )


def sparkline(values: list[int] | list[float | None], *, width: int = 120, height: int = 32) -> str:
    """The points of an SVG polyline for `values` (None counts as 0), scaled to the box."""
    numbers = [float(v or 0) for v in values]
    top = max(numbers) or 1.0
    step = width / max(len(numbers) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(numbers)
    )
