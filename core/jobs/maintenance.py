"""Housekeeping jobs run by `kassa cron`."""

from __future__ import annotations

import logging

from core.audit import service as audit
from core.jobs import outbox, runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import job

log = logging.getLogger(__name__)


@job(queue=DEFAULT, retry_intervals=())
def prune_outbox() -> int:
    rt = runtime.current()
    return outbox.prune(rt.db, clock=rt.clock)


@job(queue=DEFAULT, retry_intervals=(60,))
def verify_audit_chain(tenant_id: str) -> bool:
    """Check one tenant's audit chain; a break is logged as an error for the on-call engineer.

    An intact chain's signed head is logged too: the log store then holds a copy of each day's head
    outside the database, against which a head rolled back to an older (authentic) state shows.
    """
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        problems = audit.verify(uow.session, tenant_id=tenant_id, kms=rt.kms)
        head = audit.current_head(uow.session, tenant_id=tenant_id)
    for problem in problems:
        log.error("audit chain broken", extra={"tenant_id": tenant_id, "problem": problem})
    if not problems and head is not None:
        log.info("audit chain intact", extra={"tenant_id": tenant_id, "audit_head": head})
    return not problems
