"""The payout jobs, run by `kassa cron` once per tenant: settle what is due, open the sandbox's disputes
and decide them, run the payout schedule, move payouts along in the sandbox bank, raise reserves; and,
daily, reconcile the processor's settlement file of the previous day."""

from __future__ import annotations

from datetime import date, timedelta

from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.payouts import bank_accounts, reconciliation, reserves
from core.payouts import service as payouts

ACTOR = Actor.system("payouts")


@job(queue=DEFAULT)
def run_payouts(tenant_id: str) -> int:
    """Settle due funds, pay each currency whose schedule runs today, advance payouts in the sandbox.

    Safe to run twice, and twice at once: the payout scan skips rows another run holds (SKIP LOCKED) and
    a scheduled run's key is unique per day and currency."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        made = payouts.run_scheduled(uow.session, rt.context(uow, ACTOR), tenant_id=tenant_id)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        payouts.advance(uow.session, rt.context(uow, ACTOR), tenant_id=tenant_id)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        reserves.apply_risk_signals(uow.session, rt.context(uow, ACTOR), tenant_id=tenant_id)
    return len(made)


@job(queue=DEFAULT)
def notify_bank_account_change(tenant_id: str, bank_account_id: str, status: str) -> int:
    """Email the tenant's owners that a payout bank account was added, is waiting for approval or became
    active (masked: the last four digits only). Safe to run twice: a Redis marker per (account, status)
    keeps a retried job from mailing again once it has sent."""
    rt = runtime.current()
    marker = f"kassa:bank-account-notice:{tenant_id}:{bank_account_id}:{status}"
    if not rt.redis.set(marker, "1", nx=True, ex=7 * 24 * 3600):
        return 0
    try:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            account = bank_accounts.get(uow.session, tenant_id=tenant_id, bank_account_id=bank_account_id)
            owners = bank_accounts.owner_emails(uow.session, tenant_id=tenant_id)
            message = bank_accounts.change_notice(account, status=status, sender=rt.settings.mail_from)
        mailer = rt.mailer()
        for address in owners:
            del message["To"]
            message["To"] = address
            mailer.send(message)
    except Exception:
        rt.redis.delete(marker)  # not sent: the retry may mail
        raise
    return len(owners)


@job(queue=DEFAULT)
def reconcile_settlement(tenant_id: str, day: str | None = None) -> int:
    """Match the processor's settlement file of `day` (ISO date; default: yesterday, UTC) against the
    ledger and notify of any difference. Returns the run's number of differences.

    Daily work, scheduled hourly: the same day's file gives the same run (its digest), so the runs after
    the first of a day change nothing, and a cron that was down catches up within the hour."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        ctx = rt.context(uow, ACTOR)
        when = date.fromisoformat(day) if day else ctx.clock.now().date() - timedelta(days=1)
        run = reconciliation.reconcile_processor_day(uow.session, ctx, tenant_id=tenant_id, day=when)
        return run.differences


CRON: tuple[Cron, ...] = (
    Cron("payouts: settle, pay out, advance", 60.0, run_payouts, per_tenant=True),
    Cron("payouts: reconcile yesterday's settlement file", 3600.0, reconcile_settlement, per_tenant=True),
)
