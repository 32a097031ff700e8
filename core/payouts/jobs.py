"""The payout jobs, run by `kassa cron` once per tenant: settle what is due, open the sandbox's disputes
and decide them, run the payout schedule, move payouts along in the sandbox bank, raise reserves."""

from __future__ import annotations

from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.payouts import reserves
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


CRON: tuple[Cron, ...] = (Cron("payouts: settle, pay out, advance", 60.0, run_payouts, per_tenant=True),)
