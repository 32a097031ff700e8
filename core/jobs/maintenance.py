"""Housekeeping jobs run by `kassa cron`."""

from __future__ import annotations

import logging
from datetime import timedelta

from core.audit import service as audit
from core.jobs import outbox, runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from core.vault import lifetimes

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


@job(queue=DEFAULT, retry_intervals=(60, 300), timeout=3600)
def purge_card_data(tenant_id: str) -> int:
    """Erase the card numbers of one tenant's tokens past retention (`KASSA_CARD_RETENTION_DAYS`)."""
    rt = runtime.current()
    retention, total = timedelta(days=rt.settings.card_retention_days), 0
    while True:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            purged = lifetimes.purge_expired_cards(
                uow.session, tenant_id=tenant_id, retention=retention, kms=rt.kms, clock=rt.clock
            )
        total += purged
        if not purged:
            if total:
                log.info("card numbers purged", extra={"tenant_id": tenant_id, "count": total})
            return total


@job(queue=DEFAULT, retry_intervals=(60, 300), timeout=3600)
def rotate_tenant_data_keys(tenant_id: str) -> int:
    """Rotate one tenant's data keys once its card or audit key is older than
    `KASSA_DATA_KEY_MAX_AGE_DAYS`, and re-encrypt every card still under a retired key (also after an
    interrupted rotation)."""
    rt = runtime.current()
    max_age = timedelta(days=rt.settings.data_key_max_age_days)
    if lifetimes.start_rotation(rt.db, tenant_id=tenant_id, kms=rt.kms, clock=rt.clock, max_age=max_age):
        log.info("data keys rotated", extra={"tenant_id": tenant_id})
    cards, _destroyed = lifetimes.finish_rotation(rt.db, tenant_id=tenant_id, kms=rt.kms, clock=rt.clock)
    return cards


#: What `kassa cron` runs of these (core/jobs/catalogue.py collects every job module's `CRON`).
CRON: tuple[Cron, ...] = (
    Cron("prune delivered outbox rows", 3600.0, prune_outbox),
    Cron("verify audit chains", 86400.0, verify_audit_chain, per_tenant=True),
    Cron("purge card numbers past retention", 3600.0, purge_card_data, per_tenant=True),
    # Each job rotates only a tenant whose card or audit key is older than KASSA_DATA_KEY_MAX_AGE_DAYS.
    Cron("rotate data keys past their max age", 3600.0, rotate_tenant_data_keys, per_tenant=True),
)
