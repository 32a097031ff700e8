"""The rollup tables (docs/reports.md).

`report_daily` holds one row per tenant, mode, day, currency, method, country, outcome and decline code
with the counts and sums of that cell (`report_day_totals` and `report_monthly` the same sums coarser);
`report_customer_days` one row per shopper, day and currency.
Both are kept from `report_facts`: one row per payment and per refund saying what that object adds to
which cell. Applying an object again replaces its fact (the old contribution is taken out, the new one
put in), so a job that runs twice, late or out of order leaves the same totals: rollups always equal a
query over the raw payments (tests/core/test_reports.py checks it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JsonList, TenantScoped, Timestamp

#: The key columns of a `report_daily` cell, in the order its id spells them.
DAILY_DIMENSIONS = ("livemode", "day", "currency", "method", "country", "outcome", "decline_code")
#: The summed columns of a `report_daily` cell.
DAILY_MEASURES = ("payments", "amount", "captured", "fees", "refunds", "refunded")
CUSTOMER_MEASURES = ("payments", "volume")


class RollupSums:
    """The six sums every rollup row holds (`DAILY_MEASURES`); money in minor units of its currency."""

    #: Payments created in the row's cell (attempts; a refund adds none).
    payments: Mapped[int] = mapped_column(Integer, default=0)
    #: Sum of the payments' amounts (what was asked).
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum of what was captured.
    captured: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum of Kassa's fees on the captures (the ledger's capture journals).
    fees: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Succeeded refunds made in the row's days.
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)


class CellKeys:
    """What a fine rollup cell is kept apart by, beside its mode and its day or month."""

    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(10))
    #: The card's issuing country, else the checkout session's country; "ZZ" when neither is known.
    country: Mapped[str] = mapped_column(String(2))
    #: succeeded | authorized | failed | canceled | pending (core/reports/facts.py `outcome_of`).
    outcome: Mapped[str] = mapped_column(String(12))
    #: The failure code of a failed payment ("" otherwise).
    decline_code: Mapped[str] = mapped_column(String(64))


class ReportDaily(CellKeys, RollupSums, TenantScoped, Base):
    """One cell of the daily rollup. Money in minor units of `currency`."""

    __tablename__ = "report_daily"
    __table_args__ = (Index("ix_report_daily_range", "tenant_id", "livemode", "currency", "day"),)

    #: The cell's dimensions joined with "|" (so an upsert finds the cell by its primary key).
    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: The UTC day the payment was created (a refund: the day it was made).
    day: Mapped[date] = mapped_column(Date)


class ReportCustomerDay(TenantScoped, Base):
    """What one shopper paid on one day in one currency (captured payments only)."""

    __tablename__ = "report_customer_days"
    __table_args__ = (
        Index(
            "ix_report_customer_days_range",
            "tenant_id",
            "livemode",
            "currency",
            "day",
            postgresql_include=["customer", "payments", "volume"],
        ),
        Index("ix_report_customer_days_customer", "tenant_id", "livemode", "customer", "day"),
    )

    #: mode|customer|day|currency.
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: A digest of the shopper's email (else of the card fingerprint), the same for every payment of theirs.
    customer: Mapped[str] = mapped_column(String(40))
    #: How the portal names the shopper: the email address, or "visa •••• 4242".
    label: Mapped[str] = mapped_column(String(320))
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    payments: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(BigInteger, default=0)


class ReportFact(RollupSums, TenantScoped, Base):
    """What one payment or refund (`id`) currently adds to the rollups."""

    __tablename__ = "report_facts"

    #: The payment's (`pay_…`) or refund's (`re_…`) id.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: The `report_daily` cell it adds to.
    daily_id: Mapped[str] = mapped_column(String(160))
    #: The `report_customer_days` row it adds to, or null.
    customer_day_id: Mapped[str | None] = mapped_column(String(120))
    #: The last event applied (for tracing; correctness does not depend on it).
    event_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[Timestamp]


#: The key columns of a `report_day_totals` cell.
TOTAL_DIMENSIONS = ("livemode", "day", "currency", "outcome")


class ReportDayTotal(RollupSums, TenantScoped, Base):
    """The coarse rollup: one row per tenant, mode, day, currency and outcome, the sum of that day's
    `report_daily` cells (every method, country and decline code). The summary and the page's trend read
    it when no method or country filter is set: a year is at most 365 x currencies x 5 rows."""

    __tablename__ = "report_day_totals"
    __table_args__ = (Index("ix_report_day_totals_range", "tenant_id", "livemode", "day", "currency"),)

    #: mode|day|currency|outcome.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(12))


class ReportMonthly(CellKeys, RollupSums, TenantScoped, Base):
    """The month-grain rollup: one row per tenant, mode, month, currency, method, country, outcome and
    decline code, the sum of that month's `report_daily` cells. A year's decline, method and country mix
    and the filter's country list read it for whole months (about 30 times fewer rows than the days), and
    `report_daily` only for the days of a range's partial first and last months."""

    __tablename__ = "report_monthly"
    __table_args__ = (
        Index(
            "ix_report_monthly_range",
            "tenant_id",
            "livemode",
            "currency",
            "month",
            postgresql_include=[
                "method",
                "country",
                "outcome",
                "decline_code",
                "payments",
                "amount",
                "captured",
            ],
        ),
    )

    #: The `report_daily` id with the month's first day for the day.
    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: The first day of the UTC month.
    month: Mapped[date] = mapped_column(Date)


class ReportShopper(TenantScoped, Base):
    """One row per shopper of a mode: the day of their first captured payment (any currency), the least
    `day` of their `report_customer_days` rows with payments. New vs returning is then a comparison of
    this day with the period's start instead of a search of each shopper's history."""

    __tablename__ = "report_shoppers"

    #: mode|customer.
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    customer: Mapped[str] = mapped_column(String(40))
    first_day: Mapped[date] = mapped_column(Date)


class ReportSchedule(TenantScoped, Base):
    """A scheduled export (core/reports/schedules.py): `kassa cron` makes its file every `frequency` and
    emails each recipient a signed download link."""

    __tablename__ = "report_schedules"
    __subject__: ClassVar[str] = "report_schedule"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: payments | refunds | journal | xero (core/reports/exports.py).
    kind: Mapped[str] = mapped_column(String(20))
    #: previous (the last full day, ISO week or month) | last_7_days | last_30_days.
    period: Mapped[str] = mapped_column(String(20))
    #: daily | weekly | monthly.
    frequency: Mapped[str] = mapped_column(String(10))
    #: User ids of the members who get the link.
    recipients: Mapped[JsonList]
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Timestamp]
    #: When `kassa cron` makes the next file (UTC, 06:00 of the day after the period).
    next_run_at: Mapped[Timestamp]
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ReportExportFile(TenantScoped, Base):
    """One file a schedule produced: what it covers. The CSV itself is streamed from the rows when the
    signed link is followed, never stored."""

    __tablename__ = "report_export_files"
    __subject__: ClassVar[str] = "report_export"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(20))
    start: Mapped[date] = mapped_column(Date)
    #: Inclusive.
    end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[Timestamp]
    #: The link stops working then.
    expires_at: Mapped[Timestamp]
