"""The call edge: one small immutable context a request, a job or a CLI command builds once.

Core operations take it instead of a tail of collaborators (`clock=…, kms=…, jobs=…`) and an actor:
`refund(session, ctx, payment_id=…, amount=…)`. Audit and events read the actor, the clock and the keys
from it; services reach the job sink, Redis and the base URL through it. Built by
`core.jobs.runtime.Runtime.context` (jobs, CLI, tests) and `core.web.request.context` (requests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from core.clock import Clock
from core.kms import KMS
from core.redis import RedisClient


class ActorType(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    SHOPPER = "shopper"


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit trail records it."""

    type: ActorType
    #: `usr_…`, `key_…`, `shopper`, or a process name for system work (`cli`, `worker`).
    id: str
    origin_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(ActorType.SYSTEM, name)


class JobSink(Protocol):
    """How services ask for background work without knowing about the outbox or RQ."""

    def enqueue(
        self,
        func: Callable[..., Any] | str,
        *,
        tenant_id: str | None,
        kwargs: dict[str, str | int | bool | None],
        delay: timedelta | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Acting:
    """Who acts, and what the audit trail needs to record it (the clock and the keys). Work that only
    audits (key lifetimes, sign-in bookkeeping) needs no more; `Context` is the full call edge."""

    actor: Actor
    clock: Clock
    kms: KMS


@dataclass(frozen=True)
class Context(Acting):
    """Everything an operation needs besides its database session and its own arguments."""

    #: Background work, written into the caller's unit of work (the outbox) and relayed after commit.
    jobs: JobSink
    redis: RedisClient
    #: Where shoppers and merchants reach Kassa (links in receipts, redirect URLs).
    base_url: str

    def acting_as(self, actor: Actor) -> Context:
        """The same context for another actor (the worker's steps inside an operation anyone may call)."""
        return replace(self, actor=actor)
