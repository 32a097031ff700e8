"""Who hears about events: a declared list, read by `emit`.

Each subscriber names its job by dotted path (named, not imported: the features that subscribe sit above
core.events, see the layer contract in pyproject.toml). `emit` writes one outbox job per subscriber whose
types match, in the emitting transaction: a committed event always reaches its subscribers, a rolled-back
one never does. The job is called as `job(tenant_id=…, event_id=…)` and must be safe to run twice.

A subscriber that hears every type but wants few of them (webhooks: most tenants have no endpoint) names a
`wants` function too, asked in the emitting transaction before the outbox row is written:
`wants(session, *, tenant_id, livemode, event_type) -> bool`. It must be cheap (core/webhooks answers
from one query per transaction, kept in `core.db.transaction_memo`) and must never answer False for an
event the subscriber would act on; the subscriber owns the race with its own configuration changing
meanwhile (core/webhooks: `wants_event` and its catch-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from core.events.types import EventType


@dataclass(frozen=True)
class Subscriber:
    name: str
    #: The event types it hears; empty: every type.
    types: frozenset[EventType]
    #: `module.function` of a job registered with core.jobs.registry.job.
    job: str
    #: `module.function` asked before the job is written: False skips the outbox row (see above).
    wants: str | None = None

    def hears(self, type_: EventType) -> bool:
        return not self.types or type_ in self.types


SUBSCRIBERS: Sequence[Subscriber] = (
    Subscriber(
        "receipts",
        frozenset({EventType.CHECKOUT_SESSION_COMPLETED}),
        "core.receipts.jobs.on_event",
    ),
    # Every type: the fan-out makes a delivery per endpoint that subscribed (core/webhooks/service.py), and
    # only for a tenant and mode with an enabled endpoint that subscribed to the type (`wants`).
    Subscriber(
        "webhooks",
        frozenset(),
        "core.webhooks.jobs.on_event",
        wants="core.webhooks.service.wants_event",
    ),
    Subscriber(
        "notifications",
        frozenset({EventType.PAYOUT_FAILED, EventType.WEBHOOK_ENDPOINT_FAILING, EventType.DISPUTE_CREATED}),
        "core.notifications.jobs.notify_from_event",
    ),
    Subscriber(
        "reports",
        frozenset(
            {
                EventType.PAYMENT_CREATED,
                EventType.PAYMENT_PROCESSING,
                EventType.PAYMENT_AUTHORIZED,
                EventType.PAYMENT_REQUIRES_ACTION,
                EventType.PAYMENT_SUCCEEDED,
                EventType.PAYMENT_FAILED,
                EventType.PAYMENT_CANCELED,
                EventType.PAYMENT_REFUNDED,
                EventType.REFUND_CREATED,
                EventType.REFUND_SUCCEEDED,
                EventType.REFUND_FAILED,
            }
        ),
        "core.reports.jobs.on_event",
    ),
)


def for_type(type_: EventType, subscribers: Sequence[Subscriber] = SUBSCRIBERS) -> list[Subscriber]:
    return [s for s in subscribers if s.hears(type_)]


@cache
def resolve(dotted: str) -> Callable[..., Any]:
    """The function a dotted path names (imported on first use: the features sit above core.events)."""
    module, _, name = dotted.rpartition(".")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found
