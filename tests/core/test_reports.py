"""Rollups always equal what a query over the raw payments, refunds and ledger gives: kept one event at a
time (in any order, any number of times) or rebuilt whole."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from core.context import Actor
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.reports import facts, queries, service
from core.reports.models import ReportCustomerDay, ReportDaily, ReportDayTotal, ReportMonthly, ReportShopper
from tests.factories import MadeTenant
from tests.fixtures import Factories

TEST = Actor.system("test")
MEASURES = ("payments", "amount", "captured", "fees", "refunds", "refunded")

# The same figures, straight from the raw tables: payments by their creation day, succeeded refunds by
# theirs, fees from the capture journals. Written apart from core/reports so a bug there shows here.
RAW = """
WITH p AS (
  SELECT p.tenant_id, p.id, p.livemode, DATE(p.created_at) AS day, p.currency, p.method,
         UPPER(COALESCE(p.card_country, cs.country, 'ZZ')) AS country,
         CASE WHEN p.status IN ('succeeded', 'partially_refunded', 'refunded') THEN 'succeeded'
              WHEN p.status = 'authorized' THEN 'authorized'
              WHEN p.status = 'failed' THEN 'failed'
              WHEN p.status = 'canceled' THEN 'canceled'
              ELSE 'pending' END AS outcome,
         CASE WHEN p.status = 'failed' THEN COALESCE(p.failure_code, 'declined') ELSE '' END AS code,
         p.amount, p.amount_captured,
         COALESCE((SELECT -SUM(e.amount) FROM ledger_journals j JOIN ledger_entries e
                   ON e.tenant_id = j.tenant_id AND e.journal_id = j.id
                   WHERE j.tenant_id = p.tenant_id AND j.kind = 'payment.capture'
                     AND j.reference_id = p.id AND e.account = 'fees'), 0) AS fee
  FROM payments p JOIN checkout_sessions cs ON cs.tenant_id = p.tenant_id AND cs.id = p.checkout_session_id
  WHERE p.tenant_id = :t
)
SELECT livemode, day, currency, method, country, outcome, code,
       COUNT(*), SUM(amount), SUM(amount_captured), SUM(fee), 0, 0
FROM p GROUP BY livemode, day, currency, method, country, outcome, code
UNION ALL
SELECT p.livemode, DATE(r.created_at), r.currency, p.method, p.country, 'succeeded', '',
       0, 0, 0, 0, COUNT(*), SUM(r.amount)
FROM refunds r JOIN p ON p.tenant_id = r.tenant_id AND p.id = r.payment_id
WHERE r.status = 'succeeded'
GROUP BY p.livemode, DATE(r.created_at), r.currency, p.method, p.country
"""


def raw_cells(rt: Runtime, tenant: MadeTenant) -> dict[tuple[Any, ...], tuple[int, ...]]:
    cells: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        for row in uow.session.execute(text(RAW), {"t": tenant.id}):
            day = row[1] if isinstance(row[1], date) else date.fromisoformat(str(row[1])[:10])
            key = (bool(row[0]), day, *row[2:7])
            for i, value in enumerate(row[7:]):
                cells[key][i] += int(value or 0)
    return {k: tuple(v) for k, v in cells.items() if any(v)}


def rollup_cells(rt: Runtime, tenant: MadeTenant) -> dict[tuple[Any, ...], tuple[int, ...]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(select(ReportDaily)).all()
        return {
            (r.livemode, r.day, r.currency, r.method, r.country, r.outcome, r.decline_code): tuple(
                getattr(r, m) for m in MEASURES
            )
            for r in rows
            if any(getattr(r, m) for m in MEASURES)
        }


def event_ids(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(Event.id).order_by(Event.id)))


def apply_events(rt: Runtime, tenant: MadeTenant, ids: list[str]) -> None:
    for event_id in ids:
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.apply_event(uow.session, rt.context(uow, TEST), event_id=event_id)


def rebuild(rt: Runtime, tenant: MadeTenant) -> None:
    for _ in service.rebuild(rt, tenant_id=tenant.id, actor=TEST, batch=2):
        pass


@pytest.fixture
def history(make: Factories) -> MadeTenant:
    """A small history of every outcome: captures, declines of two reasons, an authorization, a wallet
    payment waiting for the shopper, refunds."""
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=1999, customer_email="ann@example.com")
    paid = make.payments(tenant=tenant, amount=5000, customer_email="ann@example.com")
    make.refunds(tenant=tenant, payment=paid, amount=1234)
    make.refunds(tenant=tenant, payment=paid, amount=100)
    make.payments(tenant=tenant, amount=777, method="wallet", expect="requires_action")
    make.payments(tenant=tenant, failed=True, amount=300)
    make.payments(tenant=tenant, amount=300, card_number="4000 0000 0000 9995", expect="failed")
    make.payments(tenant=tenant, authorized=True, amount=4100)
    return tenant


def test_rollups_applied_from_events_equal_the_raw_query(clean: Runtime, history: MadeTenant) -> None:
    apply_events(clean, history, event_ids(clean, history))
    rolled = rollup_cells(clean, history)
    assert rolled == raw_cells(clean, history)
    assert sum(v[3] for v in rolled.values()) > 0, "fees come from the ledger"
    assert {k[6] for k in rolled if k[5] == "failed"} == {"card_declined", "insufficient_funds"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_events_in_any_order_any_number_of_times_give_the_same_rollups(
    clean: Runtime, history: MadeTenant, data: st.DataObject
) -> None:
    ids = event_ids(clean, history)
    with clean.db.unit_of_work(tenant_id=history.id) as uow:
        service.clear(uow.session)
    shuffled = data.draw(st.permutations(ids))
    repeated = data.draw(st.lists(st.sampled_from(ids), max_size=10))
    apply_events(clean, history, [*shuffled, *repeated])
    cells = raw_cells(clean, history)
    assert rollup_cells(clean, history) == cells
    assert rollup_totals(clean, history) == coarse(cells)
    assert rollup_months(clean, history) == monthly(cells)
    assert rollup_first_days(clean, history) == raw_first_days(clean, history)


def test_a_rebuild_gives_the_raw_query_and_is_stable(clean: Runtime, history: MadeTenant) -> None:
    apply_events(clean, history, event_ids(clean, history)[:3])  # partly kept before the rebuild
    rebuild(clean, history)
    first = rollup_cells(clean, history)
    assert first == raw_cells(clean, history)
    rebuild(clean, history)
    assert rollup_cells(clean, history) == first


def test_summary_figures_are_exact(clean: Runtime, history: MadeTenant) -> None:
    rebuild(clean, history)
    today = clean.clock.now().date()
    with clean.db.unit_of_work(tenant_id=history.id) as uow:
        (eur,) = queries.summary(uow.session, queries.Filters(livemode=False, start=today, end=today))
        figures = eur.totals
        assert eur.currency == "EUR"
        assert figures.payments == 6
        assert figures.succeeded == 2 and figures.authorized == 1 and figures.failed == 2
        assert figures.pending == 1
        assert figures.volume == 1999 + 5000
        assert figures.refunded == 1334 and figures.refunds == 2
        assert figures.approval_rate == pytest.approx(3 / 5)
        assert figures.average_ticket == 3500  # 3499.5 rounded half up
        # Default pricing, 1.40 % + 0.25 on each capture.
        assert figures.fees == sum((a * 140 + 5000) // 10000 + 25 for a in (1999, 5000))
        assert figures.net == figures.volume - figures.fees - figures.refunded
        report = queries.breakdown(uow.session, queries.Filters(livemode=False, start=today, end=today), eur)
        assert [(s.key, s.count) for s in report.declines] == [
            ("card_declined", 1),
            ("insufficient_funds", 1),
        ]
        assert {s.key: s.volume for s in report.methods} == {"card": 6999}
        shoppers = queries.customers(
            uow.session, queries.Filters(livemode=False, start=today, end=today), currency="EUR"
        )
        assert shoppers.top[0] == ("ann@example.com", 2, 6999)
        assert shoppers.repeat == 1 and shoppers.new == shoppers.active


def test_customer_days_follow_the_payments(clean: Runtime, history: MadeTenant) -> None:
    apply_events(clean, history, event_ids(clean, history))
    with clean.db.unit_of_work(tenant_id=history.id) as uow:
        total = sum(r.volume for r in uow.session.scalars(select(ReportCustomerDay)))
    # Only captured payments count for shoppers.
    assert total == 1999 + 5000


def test_outcomes_cover_every_status() -> None:
    from core.payments.models import PaymentStatus

    assert set(facts.OUTCOMES) == set(PaymentStatus)


def test_the_workers_keep_the_rollups_through_the_events_subscriber(clean: Runtime, make: Factories) -> None:
    from tests.payments_helpers import work

    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=1200, customer_email="bo@example.com")
    make.payments(tenant=tenant, failed=True, amount=900)
    make.refunds(tenant=tenant, payment=paid, amount=200)
    work(clean)  # the outbox's reports jobs (core/events/subscribers.py), run by the real RQ worker
    rolled = rollup_cells(clean, tenant)
    assert rolled == raw_cells(clean, tenant)
    assert rollup_totals(clean, tenant) == coarse(rolled)
    assert rollup_months(clean, tenant) == monthly(rolled)
    assert rollup_first_days(clean, tenant) == raw_first_days(clean, tenant)
    assert sum(v[5] for v in rolled.values()) == 200 and sum(v[2] for v in rolled.values()) == 1200


# --- the coarse rollup and the shoppers' first days ------------------------------------------------------


def coarse(cells: dict[tuple[Any, ...], tuple[int, ...]]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Fine cells summed to (mode, day, currency, outcome)."""
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for (livemode, day, currency, _method, _country, outcome, _code), values in cells.items():
        for i, value in enumerate(values):
            sums[(livemode, day, currency, outcome)][i] += value
    return {k: tuple(v) for k, v in sums.items() if any(v)}


def rollup_totals(rt: Runtime, tenant: MadeTenant) -> dict[tuple[Any, ...], tuple[int, ...]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return {
            (r.livemode, r.day, r.currency, r.outcome): tuple(getattr(r, m) for m in MEASURES)
            for r in uow.session.scalars(select(ReportDayTotal))
            if any(getattr(r, m) for m in MEASURES)
        }


def monthly(cells: dict[tuple[Any, ...], tuple[int, ...]]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Fine cells summed to their month (every other dimension kept)."""
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for (livemode, day, *rest), values in cells.items():
        for i, value in enumerate(values):
            sums[(livemode, day.replace(day=1), *rest)][i] += value
    return {k: tuple(v) for k, v in sums.items() if any(v)}


def rollup_months(rt: Runtime, tenant: MadeTenant) -> dict[tuple[Any, ...], tuple[int, ...]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return {
            (r.livemode, r.month, r.currency, r.method, r.country, r.outcome, r.decline_code): tuple(
                getattr(r, m) for m in MEASURES
            )
            for r in uow.session.scalars(select(ReportMonthly))
            if any(getattr(r, m) for m in MEASURES)
        }


def _shopper_key(email: str | None, fingerprint: str | None) -> str | None:
    # Written apart from facts.customer_of: the same identity, spelt out again.
    if email:
        return hashlib.sha256(f"email:{email.strip().lower()}".encode()).hexdigest()[:32]
    if fingerprint:
        return hashlib.sha256(f"card:{fingerprint}".encode()).hexdigest()[:32]
    return None


def raw_captures(rt: Runtime, tenant: MadeTenant) -> list[tuple[bool, str, date, str, int]]:
    """(mode, shopper, day, currency, captured) of every captured payment with a shopper, from `payments`."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.execute(
            text(
                "SELECT livemode, customer_email, card_fingerprint, created_at, currency, amount_captured "
                "FROM payments WHERE tenant_id = :t AND amount_captured > 0"
            ),
            {"t": tenant.id},
        ).all()
    out = []
    for livemode, email, fingerprint, created, currency, captured in rows:
        key = _shopper_key(email, fingerprint)
        if key is None:
            continue
        day = created.date() if hasattr(created, "date") else date.fromisoformat(str(created)[:10])
        out.append((bool(livemode), key, day, currency, int(captured)))
    return out


def raw_first_days(rt: Runtime, tenant: MadeTenant) -> dict[tuple[bool, str], date]:
    firsts: dict[tuple[bool, str], date] = {}
    for livemode, key, day, _currency, _captured in raw_captures(rt, tenant):
        if (livemode, key) not in firsts or day < firsts[(livemode, key)]:
            firsts[(livemode, key)] = day
    return firsts


def rollup_first_days(rt: Runtime, tenant: MadeTenant) -> dict[tuple[bool, str], date]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return {(r.livemode, r.customer): r.first_day for r in uow.session.scalars(select(ReportShopper))}


def test_the_coarse_rollup_and_first_days_follow_events_in_any_order(
    clean: Runtime, history: MadeTenant
) -> None:
    ids = event_ids(clean, history)
    apply_events(clean, history, [*reversed(ids), *ids[:3]])
    assert rollup_totals(clean, history) == coarse(raw_cells(clean, history))
    assert rollup_months(clean, history) == monthly(raw_cells(clean, history))
    assert rollup_first_days(clean, history) == raw_first_days(clean, history)
    assert len(rollup_first_days(clean, history)) == 1  # ann (the other captures have no shopper)


def seeded(clean: Runtime, make: Factories, *, payments: int = 400, days: int = 40) -> MadeTenant:
    from core.reports import seed as seeding

    tenant = make.tenants()
    for _ in seeding.seed(
        clean.db,
        tenant_id=tenant.id,
        payments=payments,
        now=clean.clock.now(),
        days=days,
        currencies=("EUR", "USD"),
        analyze=False,
    ):
        pass
    return tenant


def test_a_batched_rebuild_of_a_seeded_history_gives_the_raw_figures(clean: Runtime, make: Factories) -> None:
    tenant = seeded(clean, make)
    for _ in service.rebuild(clean, tenant_id=tenant.id, actor=TEST, batch=37):
        pass
    cells = raw_cells(clean, tenant)
    assert rollup_cells(clean, tenant) == cells
    assert rollup_totals(clean, tenant) == coarse(cells)
    assert rollup_months(clean, tenant) == monthly(cells)
    firsts = raw_first_days(clean, tenant)
    assert rollup_first_days(clean, tenant) == firsts
    assert len({day for day in firsts.values()}) > 10, "first days spread over the history"


@given(start=st.dates(date(2020, 1, 1), date(2030, 12, 31)), length=st.integers(1, 800))
def test_whole_months_and_the_edge_days_cover_the_period_exactly_once(start: date, length: int) -> None:
    from datetime import timedelta

    end = start + timedelta(days=length - 1)
    days = {start + timedelta(days=n) for n in range(length)}
    months = queries.whole_months(start, end)
    covered: list[date] = []
    if months is not None:
        first, after = months
        assert first.day == 1 and after.day == 1 and first < after
        day = first
        while day < after:
            covered.append(day)
            day += timedelta(days=1)
    assert set(covered) <= days and len(covered) == len(set(covered))
    edges = days - set(covered)
    # What is left are partial months only: no whole month of the period is read day by day.
    for day in edges:
        month = {d for d in days if (d.year, d.month) == (day.year, day.month)}
        first_of, following = day.replace(day=1), (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        assert len(month) < (following - first_of).days


def test_the_mixes_from_months_and_edge_days_equal_the_raw_cells(clean: Runtime, make: Factories) -> None:
    """Decline reasons, method and country mix over periods Hypothesis draws across month boundaries: the
    month-grain rollup plus the edge days give what summing the raw cells gives."""
    from datetime import timedelta

    tenant = seeded(clean, make, payments=300, days=80)
    other = seeded(clean, make, payments=120, days=80)  # another tenant's cells must not count
    for t in (tenant, other):
        for _ in service.rebuild(clean, tenant_id=t.id, actor=TEST, batch=100):
            pass
    today = clean.clock.now().date()
    cells = raw_cells(clean, tenant)

    def expected(
        start: date, end: date, currency: str, column: int, outcome: str
    ) -> list[tuple[str, int, int]]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for key, values in cells.items():
            livemode, day, code = key[0], key[1], key[2]
            if not livemode and code == currency and start <= day <= end and key[5] == outcome:
                sums[key[column]][0] += values[0]
                sums[key[column]][1] += values[1] if outcome == "failed" else values[2]
        return sorted((k, c, v) for k, (c, v) in sums.items() if c or v)

    @settings(max_examples=30, deadline=None)
    @given(
        first=st.integers(min_value=0, max_value=80),
        length=st.integers(min_value=1, max_value=81),
        currency=st.sampled_from(["EUR", "USD"]),
    )
    def check(first: int, length: int, currency: str) -> None:
        start = today - timedelta(days=first)
        end = start + timedelta(days=length - 1)
        f = queries.Filters(livemode=False, start=start, end=end, currency=currency)
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            report = queries.CurrencyReport(currency, queries.Figures(), [])
            queries.breakdown(uow.session, f, report)

        def got(shares: list[queries.Share]) -> list[tuple[str, int, int]]:
            return sorted((s.key, s.count, s.volume) for s in shares)

        assert got(report.declines) == expected(start, end, currency, 6, "failed")
        assert got(report.methods) == expected(start, end, currency, 3, "succeeded")
        assert got(report.countries) == expected(start, end, currency, 4, "succeeded")
        # The trend with a country or method filter, by month, reads the same month rows and edge days:
        # each month's figures equal that month's days summed from `report_daily` alone (by day).
        for narrowed in (replace(f, country="DE"), replace(f, method="card")):
            with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
                (monthly,) = queries.summary(uow.session, narrowed, group_by="month")
                for period in monthly.periods:
                    days = replace(narrowed, start=period.start, end=period.end)
                    (daily,) = queries.summary(uow.session, days, group_by="day")
                    assert period.figures == daily.totals, (narrowed, period)
                (whole,) = queries.summary(uow.session, narrowed, group_by="day")
                assert monthly.totals == whole.totals

    check()
    assert len({day.month for (_, day, *_rest) in cells}) >= 3, "the history spans whole months"


def test_shopper_figures_equal_a_query_over_the_raw_payments(clean: Runtime, make: Factories) -> None:
    """Over one seeded history, for periods and currencies Hypothesis draws."""
    from datetime import timedelta

    tenant = seeded(clean, make, payments=300, days=30)
    for _ in service.rebuild(clean, tenant_id=tenant.id, actor=TEST, batch=100):
        pass
    today = clean.clock.now().date()
    captures = raw_captures(clean, tenant)
    firsts = raw_first_days(clean, tenant)

    @settings(max_examples=40, deadline=None)
    @given(
        first=st.integers(min_value=0, max_value=31),
        length=st.integers(min_value=1, max_value=32),
        currency=st.sampled_from(["EUR", "USD"]),
    )
    def check(first: int, length: int, currency: str) -> None:
        start = today - timedelta(days=first)
        end = start + timedelta(days=length - 1)
        active: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for livemode, key, day, code, captured in captures:
            if not livemode and code == currency and start <= day <= end:
                active[key][0] += 1
                active[key][1] += captured
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            got = queries.customers(
                uow.session, queries.Filters(livemode=False, start=start, end=end), currency=currency
            )
        assert got.active == len(active)
        assert got.new == sum(1 for key in active if firsts[(False, key)] >= start)
        assert got.returning == got.active - got.new
        assert got.repeat == sum(1 for count, _ in active.values() if count >= 2)
        top = sorted(active.items(), key=lambda kv: (-kv[1][1], kv[0]))[: queries.TOP_CUSTOMERS]
        assert [(p, v) for _label, p, v in got.top] == [(p, v) for _key, (p, v) in top]

    check()
    assert sum(1 for when in firsts.values() if when > today - timedelta(days=30)) > 0


def test_a_rebuild_runs_in_batches_that_leave_the_tenants_payments_free(
    clean: Runtime, make: Factories
) -> None:
    from core.payments.models import Payment

    tenant = seeded(clean, make, payments=60, days=10)
    steps = service.rebuild(clean, tenant_id=tenant.id, actor=TEST, batch=20)
    assert next(steps) == 20  # one batch done and committed
    # Between batches the rebuild holds nothing: every payment of the tenant can be locked at once.
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        locked = uow.session.scalars(select(Payment.id).with_for_update(nowait=True)).all()
        assert len(locked) == 60
    # A payment made while the rebuild runs is kept by its events, and the later batches agree with them.
    make.payments(tenant=tenant, amount=4321, customer_email="mid@example.com")
    apply_events(clean, tenant, event_ids(clean, tenant))
    assert list(steps) == [20, 20, 1]
    cells = raw_cells(clean, tenant)
    assert rollup_cells(clean, tenant) == cells
    assert rollup_totals(clean, tenant) == coarse(cells)
    assert rollup_first_days(clean, tenant) == raw_first_days(clean, tenant)
