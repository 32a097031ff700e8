"""The sandbox's dispute jobs, run by `kassa cron` once per tenant: open disputes for the dispute test
cards, and rule on the disputes under review (or past their due date)."""

from __future__ import annotations

from core.context import Actor
from core.disputes import service
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job

ACTOR = Actor.system("disputes")


@job(queue=DEFAULT)
def run_disputes(tenant_id: str) -> int:
    """Safe to run twice: one dispute per payment (a unique index), and a closed dispute stays closed."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        ctx = rt.context(uow, ACTOR)
        opened = service.open_sandbox_disputes(uow.session, ctx, tenant_id=tenant_id)
        service.decide(uow.session, ctx, tenant_id=tenant_id)
    return len(opened)


CRON: tuple[Cron, ...] = (Cron("disputes: sandbox open and decide", 30.0, run_disputes, per_tenant=True),)
