"""The rolling reserve: raised automatically by risk signals (dispute or refund rate over 90 days) when the
payout job runs in the real worker, never lowered by them; set by an operator with a reason, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.context import Actor
from core.errors import InvalidInput
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.jobs.worker import SCHEDULE
from core.ledger import service as ledger
from core.payouts import reserves
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(NOW)
    monkeypatch.setattr(clean, "clock", frozen)
    return frozen


def _history(
    rt: Runtime, tenant: MadeTenant, *, charges: int, disputes: int = 0, refunds: int = 0, days_ago: int = 10
) -> None:
    at = FrozenClock(NOW - timedelta(days=days_ago))
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        for _ in range(charges):
            ledger.record_capture(
                uow.session,
                tenant_id=tenant.id,
                payment_id=new_id("pay"),
                amount=5_000,
                currency="EUR",
                clock=at,
            )
        for _ in range(disputes):
            ledger.record_dispute(
                uow.session,
                tenant_id=tenant.id,
                dispute_id=new_id("dp"),
                amount=5_000,
                fee=1_500,
                currency="EUR",
                clock=at,
            )
        for _ in range(refunds):
            ledger.record_refund(
                uow.session,
                tenant_id=tenant.id,
                refund_id=new_id("re"),
                amount=1_000,
                currency="EUR",
                clock=at,
            )


def _payout_cron(rt: Runtime) -> None:
    """`kassa cron`'s payout entry (it raises reserves too), then the real worker."""
    (entry,) = [item for item in SCHEDULE if item.name == "payouts: settle, pay out, advance"]
    entry.action(rt)
    work(rt)


def _terms(rt: Runtime, tenant: MadeTenant) -> ledger.Terms:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return ledger.settlement_terms(uow.session, tenant_id=tenant.id)


def _audited(rt: Runtime, tenant: MadeTenant, action: str) -> list[AuditEvent]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = list(uow.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        uow.session.expunge_all()
        return rows


def test_a_dispute_rate_above_one_percent_raises_the_reserve_when_the_payout_job_runs(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    _history(clean, tenant, charges=40, disputes=1)  # 2.5 % > 1 %
    assert _terms(clean, tenant).reserve_bps == 0
    _payout_cron(clean)
    terms = _terms(clean, tenant)
    assert (terms.reserve_bps, terms.reserve_days, terms.reserve_source) == (1_000, 90, "risk")
    assert terms.reserve_reason == "dispute rate 2.5% above 1% (last 90 days)"
    [raised] = _audited(clean, tenant, actions.RESERVE_RAISED)
    assert raised.actor_id == "payouts"
    _payout_cron(clean)  # raised once: a second run finds it already at the raised level
    assert len(_audited(clean, tenant, actions.RESERVE_RAISED)) == 1

    # From now on 10 % of each settled charge is held for 90 days.
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ledger.record_capture(
            uow.session,
            tenant_id=tenant.id,
            payment_id=new_id("pay"),
            amount=10_000,
            currency="EUR",
            clock=clock,
            available_at_once=True,
        )
        [held] = reserves.reserve_schedule(uow.session, tenant_id=tenant.id)
        assert held.net == 984 and held.available_on.date() == (NOW + timedelta(days=90)).date()


def test_a_refund_rate_above_ten_percent_raises_it_too(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    _history(clean, tenant, charges=20, refunds=3)  # 15 % > 10 %
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert reserves.apply_risk_signals(
            uow.session, clean.context(uow, Actor.system("t")), tenant_id=tenant.id
        )
    assert _terms(clean, tenant).reserve_reason == "refund rate 15.0% above 10% (last 90 days)"


@pytest.mark.parametrize(
    ("charges", "disputes", "refunds", "days_ago"),
    [
        (19, 5, 0, 10),  # too few charges for a rate to mean anything
        (100, 1, 10, 10),  # exactly at the thresholds: not above
        (40, 4, 0, 91),  # outside the 90-day window
    ],
)
def test_no_signal_no_raise(
    make: Factories,
    clean: Runtime,
    clock: FrozenClock,
    charges: int,
    disputes: int,
    refunds: int,
    days_ago: int,
) -> None:
    tenant = make.tenants()
    _history(clean, tenant, charges=charges, disputes=disputes, refunds=refunds, days_ago=days_ago)
    _payout_cron(clean)
    assert _terms(clean, tenant).reserve_bps == 0
    assert _audited(clean, tenant, actions.RESERVE_RAISED) == []


def test_risk_signals_never_lower_a_higher_reserve_an_operator_set(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        reserves.set_terms(
            uow.session,
            clean.context(uow, Actor.system("cli")),
            tenant_id=tenant.id,
            reason="High-risk goods, agreed at onboarding",
            reserve_bps=1_500,
            reserve_days=120,
        )
    _history(clean, tenant, charges=40, disputes=4)
    _payout_cron(clean)
    terms = _terms(clean, tenant)
    assert (terms.reserve_bps, terms.reserve_days, terms.reserve_source) == (1_500, 120, "manual")
    assert terms.reserve_reason == "High-risk goods, agreed at onboarding"


def test_an_operator_change_needs_a_reason_and_is_audited_before_and_after(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = clean.context(uow, Actor.system("cli"))
        with pytest.raises(InvalidInput, match="reason"):
            reserves.set_terms(uow.session, ctx, tenant_id=tenant.id, reason=" ", delay_days=3)
        with pytest.raises(InvalidInput, match="days it is held"):
            reserves.set_terms(uow.session, ctx, tenant_id=tenant.id, reason="x", reserve_bps=500)
        with pytest.raises(InvalidInput, match="reserve_bps must be a whole number from 0 to 10000"):
            reserves.set_terms(
                uow.session, ctx, tenant_id=tenant.id, reason="x", reserve_bps=20_000, reserve_days=30
            )
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        reserves.set_terms(
            uow.session,
            clean.context(uow, Actor.system("cli")),
            tenant_id=tenant.id,
            reason="New bank",
            delay_days=5,
        )
    assert (_terms(clean, tenant).delay_days, _terms(clean, tenant).reserve_bps) == (5, 0)
    [row] = _audited(clean, tenant, actions.SETTLEMENT_TERMS_UPDATED)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        details = audit.read_details(uow.session, row, kms=clean.kms)
    assert details is not None and details["reason"] == "New bank"
    assert details["before"]["delay_days"] == 2 and details["after"]["delay_days"] == 5
