"""The report figures, read from the rollups (docs/reports.md says what each one means).

Every money figure is per currency, in its minor units, summed exactly (integers); rates are ratios of
integers, rounded only for display. Used by `GET /api/v1/reports/summary`, the portal's reports page and
the benchmarks alike. Tenant scoping is the session's (RLS and the tenant filter), the mode the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Date, case, cast, func, select, tuple_, union_all
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.payouts.models import Payout, PayoutStatus
from core.reports.models import (
    DAILY_MEASURES,
    ReportCustomerDay,
    ReportDaily,
    ReportDayTotal,
    ReportMonthly,
    ReportShopper,
)

GroupBy = Literal["day", "week", "month"]
GROUP_BY: Final = ("day", "week", "month")
#: The longest range one question may span (a longer one is split by the caller).
MAX_DAYS: Final = 3 * 366
TOP_CUSTOMERS: Final = 10
D = ReportDaily
T = ReportDayTotal
M = ReportMonthly


@dataclass(frozen=True)
class Filters:
    livemode: bool
    start: date
    #: Inclusive.
    end: date
    currency: str | None = None
    method: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput("The end of the range is before its start.", param="to")
        if (self.end - self.start).days >= MAX_DAYS:
            raise InvalidInput(f"A report spans at most {MAX_DAYS} days.", param="from")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one (for "compare with previous period")."""
        end = self.start - timedelta(days=1)
        return replace(self, start=end - timedelta(days=self.days - 1), end=end)


@dataclass
class Figures:
    """Counts and sums over a set of rollup cells of one currency."""

    payments: int = 0
    succeeded: int = 0
    authorized: int = 0
    failed: int = 0
    canceled: int = 0
    pending: int = 0
    amount: int = 0
    volume: int = 0
    fees: int = 0
    refunds: int = 0
    refunded: int = 0

    def add(
        self, outcome: str, payments: int, amount: int, captured: int, fees: int, refunds: int, refunded: int
    ) -> None:
        self.payments += payments
        if outcome in ("succeeded", "authorized", "failed", "canceled", "pending"):
            setattr(self, outcome, getattr(self, outcome) + payments)
        self.amount += amount
        self.volume += captured
        self.fees += fees
        self.refunds += refunds
        self.refunded += refunded

    @property
    def approved(self) -> int:
        return self.succeeded + self.authorized

    @property
    def approval_rate(self) -> float | None:
        """Approved / (approved + declined); payments still in flight or canceled count in neither."""
        decided = self.approved + self.failed
        return None if decided == 0 else self.approved / decided

    @property
    def average_ticket(self) -> int | None:
        """Captured volume / succeeded payments, rounded half up to a minor unit."""
        if self.succeeded == 0:
            return None
        return (2 * self.volume + self.succeeded) // (2 * self.succeeded)

    @property
    def refund_rate(self) -> float | None:
        """Refunded / captured volume of the same period."""
        return None if self.volume == 0 else self.refunded / self.volume

    @property
    def net(self) -> int:
        """Captured volume less fees and refunds."""
        return self.volume - self.fees - self.refunded

    def as_dict(self) -> dict[str, Any]:
        return {
            "payments": self.payments,
            "succeeded": self.succeeded,
            "authorized": self.authorized,
            "failed": self.failed,
            "canceled": self.canceled,
            "pending": self.pending,
            "volume": self.volume,
            "average_ticket": self.average_ticket,
            "approval_rate": _rate(self.approval_rate),
            "fees": self.fees,
            "refunds": self.refunds,
            "refunded": self.refunded,
            "refund_rate": _rate(self.refund_rate),
            "net": self.net,
        }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class Period:
    start: date
    end: date
    figures: Figures = field(default_factory=Figures)


@dataclass
class Share:
    """One slice of a mix: a method, a country or a decline reason."""

    key: str
    count: int
    volume: int = 0


@dataclass
class Customers:
    active: int = 0
    new: int = 0
    returning: int = 0
    repeat: int = 0
    top: list[tuple[str, int, int]] = field(default_factory=list)  # (label, payments, volume)

    @property
    def repeat_rate(self) -> float | None:
        """Shoppers who paid at least twice in the period / shoppers who paid in it."""
        return None if self.active == 0 else self.repeat / self.active


@dataclass
class CurrencyReport:
    currency: str
    totals: Figures
    periods: list[Period]
    declines: list[Share] = field(default_factory=list)
    methods: list[Share] = field(default_factory=list)
    countries: list[Share] = field(default_factory=list)


def currencies(session: Session, *, livemode: bool) -> list[str]:
    """Every currency the mode has figures in, most captured volume first."""
    rows = session.execute(
        select(T.currency, func.sum(T.captured))
        .where(T.livemode == livemode)
        .group_by(T.currency)
        .order_by(func.sum(T.captured).desc(), T.currency)
    ).all()
    return [currency for currency, _ in rows]


def bucket_start(day: date, group_by: str) -> date:
    if group_by == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if group_by == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, group_by: str) -> date:
    if group_by == "week":
        return start + timedelta(days=7)
    if group_by == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def _periods(f: Filters, group_by: str) -> list[Period]:
    periods = []
    start = bucket_start(f.start, group_by)
    while start <= f.end:
        following = _next_bucket(start, group_by)
        periods.append(Period(max(start, f.start), min(following - timedelta(days=1), f.end)))
        start = following
    return periods


def summary(session: Session, f: Filters, *, group_by: str = "day") -> list[CurrencyReport]:
    """Totals and per-period figures for each currency (only `f.currency` when given)."""
    if group_by not in GROUP_BY:
        raise InvalidInput("group_by must be day, week or month.", param="group_by")
    # No method or country asked: the coarse rollup (day x currency x outcome) holds the same sums in far
    # fewer rows. With one, by month: the month-grain rollup for whole months and the edge days' cells.
    # On PostgreSQL the rows are summed per week or month in the query, so a year by month is about 120
    # rows to Python instead of thousands.
    where: list[Any] = []
    if f.method is None and f.country is None:
        c: Any = T  # the ORM entity itself, so its tenant criteria apply as to any query of it
        where = [T.livemode == f.livemode, T.day.between(f.start, f.end)]
        if f.currency is not None:
            where.append(T.currency == f.currency)
    else:
        columns = ("currency", "day", "outcome", *DAILY_MEASURES)
        c = _cells(f, f.currency, columns, months=group_by == "month").c
    day: Any = c.day
    if group_by != "day" and session.get_bind().dialect.name == "postgresql":
        day = cast(func.date_trunc(group_by, c.day), Date)
    statement = select(c.currency, day, c.outcome, *(func.sum(getattr(c, m)) for m in DAILY_MEASURES))
    statement = statement.where(*where).group_by(c.currency, day, c.outcome)
    rows = session.execute(statement).all()
    reports: dict[str, CurrencyReport] = {}
    index: dict[str, dict[date, Period]] = {}
    for row in rows:
        currency, day, outcome, sums = row[0], row[1], row[2], row[3:]
        if currency not in reports:
            periods = _periods(f, group_by)
            reports[currency] = CurrencyReport(currency, Figures(), periods)
            index[currency] = {p.start: p for p in periods}
        values = [int(v or 0) for v in sums]
        reports[currency].totals.add(outcome, *values)
        key = max(bucket_start(day, group_by), f.start)
        index[currency][key].figures.add(outcome, *values)
    if f.currency is not None and f.currency not in reports:
        reports[f.currency] = CurrencyReport(f.currency, Figures(), _periods(f, group_by))
    return sorted(reports.values(), key=lambda r: (-r.totals.volume, r.currency))


def whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The whole calendar months inside [start, end] as [first, after): None when there is none."""
    first = start if start.day == 1 else _next_bucket(start, "month")
    following = end + timedelta(days=1)
    after = following if following.day == 1 else end.replace(day=1)
    return (first, after) if first < after else None


MIX_COLUMNS: Final = ("outcome", "decline_code", "method", "country", "payments", "amount", "captured")


def _cells(
    f: Filters, currency: str | None, columns: tuple[str, ...] = MIX_COLUMNS, *, months: bool = True
) -> Any:
    """The period's fine cells with `columns` (`day`: a month row's first day): `report_monthly` for its
    whole months and `report_daily` for the days of the partial months at either end (`months=False`:
    `report_daily` alone). The same sums either way, the first in about 30 times fewer rows for a year."""

    def of(table: Any, when: Any) -> Any:
        picked = [(table.month if c == "day" and table is M else getattr(table, c)).label(c) for c in columns]
        statement = select(*picked).where(table.livemode == f.livemode, when)
        if currency is not None:
            statement = statement.where(table.currency == currency)
        if f.method is not None:
            statement = statement.where(table.method == f.method)
        if f.country is not None:
            statement = statement.where(table.country == f.country)
        return statement

    whole = whole_months(f.start, f.end) if months else None
    if whole is None:
        return of(D, D.day.between(f.start, f.end)).subquery("cells")
    first, after = whole
    edges = ((D.day >= f.start) & (D.day < first)) | ((D.day >= after) & (D.day <= f.end))
    return union_all(of(M, (M.month >= first) & (M.month < after)), of(D, edges)).subquery("cells")


def _shares(session: Session, cells: Any, column: str, *, failed_only: bool) -> list[Share]:
    """Per value of `column`: declined payments and their amount (`failed_only`), else succeeded payments
    and their captured volume."""
    c = cells.c
    measure = c.amount if failed_only else c.captured
    statement = (
        select(c[column], func.sum(c.payments), func.sum(measure))
        .where(c.outcome == ("failed" if failed_only else "succeeded"))
        .group_by(c[column])
    )
    return _ordered(
        [
            Share(str(key), int(count or 0), int(volume or 0))
            for key, count, volume in session.execute(statement)
        ],
        failed_only=failed_only,
    )


def _ordered(shares: list[Share], *, failed_only: bool) -> list[Share]:
    shares = [s for s in shares if s.count or s.volume]
    if failed_only:
        return sorted(shares, key=lambda s: (-s.count, s.key))
    return sorted(shares, key=lambda s: (-s.volume, -s.count, s.key))


def breakdown(session: Session, f: Filters, report: CurrencyReport) -> CurrencyReport:
    """Fill `report`'s decline reasons, method mix and country mix (succeeded payments' volume)."""
    cells = _cells(f, report.currency)
    if session.get_bind().dialect.name != "postgresql":
        report.declines = _shares(session, cells, "decline_code", failed_only=True)
        report.methods = _shares(session, cells, "method", failed_only=False)
        report.countries = _shares(session, cells, "country", failed_only=False)
        return report
    # PostgreSQL: the three mixes in one pass over the period's cells (GROUPING SETS).
    c = cells.c
    statement = (
        select(
            c.outcome,
            c.decline_code,
            c.method,
            c.country,
            func.grouping(c.decline_code, c.method, c.country),
            func.sum(c.payments),
            func.sum(c.amount),
            func.sum(c.captured),
        )
        .where(c.outcome.in_(("failed", "succeeded")))
        .group_by(
            func.grouping_sets(
                tuple_(c.outcome, c.decline_code), tuple_(c.outcome, c.method), tuple_(c.outcome, c.country)
            )
        )
    )
    declines, methods, countries = [], [], []
    for outcome, code, method, country, grouping, count, amount, captured in session.execute(statement):
        count, amount, captured = int(count or 0), int(amount or 0), int(captured or 0)
        # grouping(): bit 2 decline code, bit 1 method, bit 0 country, set where the column is rolled up.
        if grouping == 0b011 and outcome == "failed":
            declines.append(Share(str(code), count, amount))
        elif grouping == 0b101 and outcome == "succeeded":
            methods.append(Share(str(method), count, captured))
        elif grouping == 0b110 and outcome == "succeeded":
            countries.append(Share(str(country), count, captured))
    report.declines = _ordered(declines, failed_only=True)
    report.methods = _ordered(methods, failed_only=False)
    report.countries = _ordered(countries, failed_only=False)
    return report


def customers(session: Session, f: Filters, *, currency: str) -> Customers:
    """New and returning shoppers, repeat rate and top shoppers in the period, for one currency.

    A shopper is new in the period when their first captured payment (in any currency of the mode) falls
    in it, returning when they had paid before it. Method and country filters do not apply here.
    """
    C = ReportCustomerDay
    active = (
        select(
            C.customer.label("customer"),
            func.sum(C.payments).label("payments"),
            func.sum(C.volume).label("volume"),
        )
        .where(C.livemode == f.livemode, C.currency == currency, C.day >= f.start, C.day <= f.end)
        .group_by(C.customer)
        .having(func.sum(C.payments) > 0)
        .subquery()
    )
    # New: their first captured payment (any currency of the mode, `report_shoppers`) is in the period;
    # an active shopper's first day is never after the period, so "not before its start" is enough.
    # One pass over the period's rows: the counts as window sums beside the top shoppers.
    S = ReportShopper
    new = case((S.first_day >= f.start, 1), else_=0)
    repeat = case((active.c.payments >= 2, 1), else_=0)
    rows = session.execute(
        select(
            active.c.customer,
            active.c.payments,
            active.c.volume,
            func.count().over(),
            func.sum(new).over(),
            func.sum(repeat).over(),
        )
        .select_from(active)
        .join(S, S.id == ("live|" if f.livemode else "test|") + active.c.customer, isouter=True)
        .order_by(active.c.volume.desc(), active.c.customer)
        .limit(TOP_CUSTOMERS)
    ).all()
    result = Customers()
    if rows:
        result = Customers(active=int(rows[0][3]), new=int(rows[0][4] or 0), repeat=int(rows[0][5] or 0))
    result.returning = result.active - result.new
    top = [(c, p, v) for c, p, v, *_ in rows]
    labels = _labels(session, f.livemode, [row[0] for row in top])
    result.top = [(labels.get(c, c), int(p), int(v)) for c, p, v in top]
    return result


def _labels(session: Session, livemode: bool, customer_ids: Iterable[str]) -> dict[str, str]:
    ids = list(customer_ids)
    if not ids:
        return {}
    C = ReportCustomerDay
    rows = session.execute(
        select(C.customer, func.max(C.label))
        .where(C.livemode == livemode, C.customer.in_(ids))
        .group_by(C.customer)
    ).all()
    return {customer: label for customer, label in rows}


def options(session: Session, *, livemode: bool) -> dict[str, list[str]]:
    """The values the filters offer: every method, and the currencies and countries that have figures."""
    # Every country a month has figures in (`report_monthly` holds the same countries as the days).
    countries = session.scalars(
        select(M.country).where(M.livemode == livemode).distinct().order_by(M.country)
    )
    return {
        "currencies": currencies(session, livemode=livemode),
        "methods": ["card", "wallet", "bank"],
        "countries": list(countries),
    }


#: The range a report shows when none is given: the last 30 days, today included.
DEFAULT_DAYS: Final = 30


def _date(value: str | None, param: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{param} must be a date written YYYY-MM-DD, like 2026-12-01.", param=param
        ) from None


def filters_from(
    *,
    livemode: bool,
    today: date,
    start: str | None = None,
    end: str | None = None,
    currency: str | None = None,
    method: str | None = None,
    country: str | None = None,
) -> Filters:
    """Filters from what a caller typed (query parameters, the portal's filter form): dates as YYYY-MM-DD,
    the range defaulting to the last 30 days; a bad value raises InvalidInput naming its parameter."""
    from core import money

    last = _date(end, "to") or today
    first = _date(start, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    code = money.validate_currency(currency.strip().upper()) if currency and currency.strip() else None
    if method is not None and method.strip() and method.strip() not in ("card", "wallet", "bank"):
        raise InvalidInput("method must be card, wallet or bank.", param="method")
    area = country.strip().upper() if country and country.strip() else None
    if area is not None and (len(area) != 2 or not area.isalpha()):
        raise InvalidInput("country must be a two-letter country code, like DE.", param="country")
    return Filters(
        livemode=livemode,
        start=first,
        end=last,
        currency=code,
        method=method.strip() if method and method.strip() else None,
        country=area,
    )


@dataclass(frozen=True)
class PayoutFigures:
    """The period's payouts in one currency: what reached the bank, what failed, and what is on its way
    now (payouts are few, one a day at most per currency: read from `payouts` itself, no rollup)."""

    paid_count: int = 0
    paid: int = 0
    failed_count: int = 0
    in_transit_count: int = 0
    in_transit: int = 0


def payouts(session: Session, f: Filters, *, currency: str) -> PayoutFigures:
    start = datetime.combine(f.start, time.min, tzinfo=UTC)
    end = datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=UTC)
    paid = (Payout.status == PayoutStatus.PAID) & (Payout.paid_at >= start) & (Payout.paid_at < end)
    failed = (Payout.status == PayoutStatus.FAILED) & (Payout.failed_at >= start) & (Payout.failed_at < end)
    moving = Payout.status == PayoutStatus.IN_TRANSIT
    row = session.execute(
        select(
            func.count().filter(paid),
            func.coalesce(func.sum(Payout.amount).filter(paid), 0),
            func.count().filter(failed),
            func.count().filter(moving),
            func.coalesce(func.sum(Payout.amount).filter(moving), 0),
        ).where(Payout.livemode == f.livemode, Payout.currency == currency)
    ).one()
    return PayoutFigures(*(int(value or 0) for value in row))
