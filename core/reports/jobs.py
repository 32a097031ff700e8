"""The reports subscriber: every payment and refund event brings the rollups up to date (on `default`)."""

from __future__ import annotations

from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.reports import service

WORKER = Actor.system("worker")


@job(queue=DEFAULT)
def on_event(tenant_id: str, event_id: str) -> int:
    """Reports as a subscriber of payment and refund events (core/events/subscribers.py): apply one event
    to the tenant's rollups. Idempotent: the facts of the event's payment are recomputed from its rows as
    they are now, so a second run (or a late one) changes nothing."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return service.apply_event(uow.session, rt.context(uow, WORKER), event_id=event_id)


#: What `kassa cron` runs of these (core/jobs/catalogue.py): nothing, events drive the rollups.
CRON: tuple[Cron, ...] = ()
