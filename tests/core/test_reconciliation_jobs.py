"""Reconciliation on `kassa cron`: every tenant's settlement file of the previous day is fetched from the
sandbox processor and matched against the ledger by the real worker; a difference is flagged on the
portal's page and notified to the members who see payouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.jobs.worker import SCHEDULE
from core.ledger import service as ledger
from core.notifications.kinds import Kind
from core.notifications.models import Notification, NotificationRecipient
from core.payouts import reconciliation
from core.payouts.models import ReconciliationRun
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work

ENTRY = "payouts: reconcile yesterday's settlement file"


def _cron(rt: Runtime) -> None:
    """Run the cron entry (it enqueues one job per tenant), then the real worker over the queues."""
    (entry,) = [item for item in SCHEDULE if item.name == ENTRY]
    entry.action(rt)
    work(rt)


def _runs(rt: Runtime, tenant: MadeTenant) -> list[ReconciliationRun]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        runs = list(uow.session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.created_at)))
        uow.session.expunge_all()
        return runs


def _notifications(rt: Runtime, tenant: MadeTenant) -> list[tuple[Notification, int]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(
            select(Notification).where(Notification.kind == Kind.RECONCILIATION_DIFFERENCES)
        ).all()
        found = [
            (
                n,
                len(
                    uow.session.scalars(
                        select(NotificationRecipient).where(NotificationRecipient.notification_id == n.id)
                    ).all()
                ),
            )
            for n in rows
        ]
        uow.session.expunge_all()
        return found


def test_cron_reconciles_the_previous_days_settlement_file_and_flags_a_difference(
    make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    today = FrozenClock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    yesterday = FrozenClock(today.now() - timedelta(days=1))
    monkeypatch.setattr(clean, "clock", today)
    refs = []
    for amount in (1_000, 2_500):
        refs.append(new_id("pay"))
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            ledger.record_capture(
                uow.session,
                tenant_id=tenant.id,
                payment_id=refs[-1],
                amount=amount,
                currency="EUR",
                clock=yesterday,
            )

    _cron(clean)
    [run] = _runs(clean, tenant)
    assert (run.file_date, run.lines, run.matched, run.differences) == (yesterday.now().date(), 2, 2, 0)
    _cron(clean)  # the hourly runs after the day's first change nothing
    assert len(_runs(clean, tenant)) == 1
    assert _notifications(clean, tenant) == []

    # The processor's file disagrees with the ledger on one amount (what the sandbox would report if a
    # capture had settled for a cent more).
    honest = reconciliation.settlement_file

    def altered(session, *, tenant_id, day):  # type: ignore[no-untyped-def]
        return honest(session, tenant_id=tenant_id, day=day).replace(
            f"capture,{refs[1]},EUR,2500", f"capture,{refs[1]},EUR,2501"
        )

    monkeypatch.setattr(reconciliation, "settlement_file", altered)
    _cron(clean)
    _cron(clean)  # the same file again: the same run, one notification
    runs = sorted(_runs(clean, tenant), key=lambda r: r.differences)  # one frozen moment: both runs
    assert [r.differences for r in runs] == [0, 1]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        [diff] = reconciliation.differences_of(uow.session, tenant_id=tenant.id, run_id=runs[1].id)
        assert (diff.kind, diff.reference_id, diff.file_amount, diff.ledger_amount) == (
            "amount_mismatch",
            refs[1],
            2_501,
            2_500,
        )
    [(notice, recipients)] = _notifications(clean, tenant)
    assert notice.link == "/portal/reconciliation" and notice.subject_id == runs[1].id
    assert "1 difference" in notice.title and yesterday.now().date().isoformat() in notice.title
    assert recipients == 1  # the owner (the tenant's only member)


def test_the_job_reconciles_a_given_day_for_one_tenant(make: Factories, clean: Runtime) -> None:
    from core.payouts.jobs import reconcile_settlement

    tenant = make.tenants()
    make.payments(tenant=tenant, amount=4_000)
    day = clean.clock.now().date()
    assert reconcile_settlement(tenant_id=tenant.id, day=day.isoformat()) == 0
    [run] = _runs(clean, tenant)
    assert run.file_date == day and run.lines >= 1 and run.differences == 0
