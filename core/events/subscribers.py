"""Who hears about events: a declared list, read by `emit`.

Each subscriber names its job by dotted path (named, not imported: the features that subscribe sit above
core.events, see the layer contract in pyproject.toml). `emit` writes one outbox job per subscriber whose
types match, in the emitting transaction: a committed event always reaches its subscribers, a rolled-back
one never does. The job is called as `job(tenant_id=…, event_id=…)` and must be safe to run twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.events.types import EventType


@dataclass(frozen=True)
class Subscriber:
    name: str
    #: The event types it hears; empty: every type.
    types: frozenset[EventType]
    #: `module.function` of a job registered with core.jobs.registry.job.
    job: str

    def hears(self, type_: EventType) -> bool:
        return not self.types or type_ in self.types


SUBSCRIBERS: Sequence[Subscriber] = (
    Subscriber(
        "receipts",
        frozenset({EventType.CHECKOUT_SESSION_COMPLETED}),
        "core.receipts.jobs.on_event",
    ),
)


def for_type(type_: EventType, subscribers: Sequence[Subscriber] = SUBSCRIBERS) -> list[Subscriber]:
    return [s for s in subscribers if s.hears(type_)]
