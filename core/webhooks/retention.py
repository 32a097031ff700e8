"""Event retention: events are kept `KASSA_EVENT_RETENTION_DAYS` (90 at least, the events API's promise),
then deleted in batches by the hourly `kassa cron` job `prune_events` (core/webhooks/jobs.py). It lives with
the webhooks because a delivery still retrying is what holds an old event: it stays until that delivery is
done (succeeded, dead or canceled).

- The events API's `since` cursor is a comparison (`id > since`), never a lookup, so a cursor naming a
  pruned event still lists every event after it.
- Each batch is one short transaction and one statement, bounded by the primary key too: ids start with
  their creation time (core/ids.py), so only the old end of the tenant's `(tenant_id, id)` range is read,
  however many events it keeps.
- On PostgreSQL the events table is append-only for the application role: the batch runs in the SECURITY
  DEFINER function `kassa_events_prune` (migration 0032), which deletes only the tenant bound to the
  transaction. SQLite (the embedded demo) has no roles: the same statement runs through the ORM.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, exists, select, text
from sqlalchemy.orm import Session

from core.events.models import Event
from core.ids import floor_id
from core.webhooks.models import DeliveryStatus, WebhookDelivery

#: Events deleted per transaction.
BATCH: Final = 1000
#: The id bound is this much later than the age bound: an id is minted a moment before its `created_at` is
#: read, and the slack keeps the range bound from ever hiding an old event.
ID_SLACK: Final = timedelta(hours=1)


def prune_batch(session: Session, *, tenant_id: str, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` of the session's tenant's events made before `before`, except those a delivery
    still retries; answer how many."""
    bound = floor_id("evt", at_ms=int((before + ID_SLACK).timestamp() * 1000))
    if session.get_bind().dialect.name == "postgresql":
        return int(
            session.execute(
                text("SELECT kassa_events_prune(:before, :bound, :limit)"),
                {"before": before, "bound": bound, "limit": limit},
            ).scalar_one()
        )
    retrying = exists().where(
        WebhookDelivery.tenant_id == Event.tenant_id,
        WebhookDelivery.event_id == Event.id,
        WebhookDelivery.status == DeliveryStatus.PENDING,
    )
    doomed = (
        select(Event.id)
        .where(Event.tenant_id == tenant_id, Event.id < bound, Event.created_at < before, ~retrying)
        .order_by(Event.id)
        .limit(limit)
    )
    result = session.execute(
        delete(Event)
        .where(Event.tenant_id == tenant_id, Event.id.in_(doomed.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
