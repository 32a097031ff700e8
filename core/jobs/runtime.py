"""The process's wiring for jobs, CLI and web: settings, database, Redis, KMS, clock.

Built by `configure()` from `create_app()` or a worker/cron entry point, never at import time. Jobs call
`current()` to reach it, because RQ hands them only their JSON arguments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from rq import Queue

from core.clock import Clock, system_clock
from core.config import Settings
from core.context import Acting, Actor, Context
from core.db import Database, UnitOfWork
from core.jobs import outbox
from core.jobs.queues import RedisClient, connect_redis, get_queue
from core.kms import LocalKMS
from core.mail import Mailer
from core.mail import from_url as mailer_from_url
from core.processors.base import Processor
from core.processors.factory import get_processor
from core.processors.sandbox import SandboxConfig

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: RedisClient
    kms: LocalKMS
    clock: Clock = field(default=system_clock)
    #: Sandbox latency and fault injection (KASSA_SANDBOX_*), for tests and benchmarks.
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    _analytics: Database | None = field(default=None, repr=False)

    @property
    def has_replica(self) -> bool:
        """Whether report queries read from a database of their own (ANALYTICS_DATABASE_URL)."""
        return self.analytics is not self.db

    @property
    def analytics(self) -> Database:
        """Where report queries read: ANALYTICS_DATABASE_URL (a read replica, every transaction read-only),
        else the main database."""
        url = self.settings.analytics_database_url
        if not url or url == self.db.app_url:
            return self.db
        if self._analytics is None:
            # A replica that went away fails its reports (and the operator view's lag figure) in seconds,
            # not after the operating system's TCP timeout.
            extra: dict[str, Any] = (
                {"connect_args": {"connect_timeout": 5}} if url.startswith("postgresql") else {}
            )
            self._analytics = Database(url, pooler=self.settings.database_pooler, read_only=True, **extra)
        return self._analytics

    def queue(self, name: str) -> Queue:
        return get_queue(name, self.redis)

    def enqueue(
        self,
        uow: UnitOfWork,
        func: Callable[..., Any] | str,
        *,
        tenant_id: str | None,
        kwargs: dict[str, str | int | bool | None] | None = None,
    ) -> outbox.Message:
        """Write a job to the outbox in `uow`; after the commit, try to hand it to RQ at once."""
        return outbox.add(
            uow, func, clock=self.clock, tenant_id=tenant_id, kwargs=kwargs, on_commit=self._relay_now
        )

    def sink(self, uow: UnitOfWork) -> OutboxSink:
        """A JobSink writing into `uow`'s outbox, handed to services."""
        return OutboxSink(self, uow)

    def context(self, uow: UnitOfWork, actor: Actor) -> Context:
        """The call edge for work done in `uow` by `actor`: jobs, CLI commands and (through
        core.web.request.context) requests build it once and hand it to every core operation."""
        return Context(
            actor=actor,
            clock=self.clock,
            kms=self.kms,
            jobs=self.sink(uow),
            redis=self.redis,
            base_url=self.settings.base_url,
        )

    def acting(self, actor: Actor) -> Acting:
        """Who acts, for work that only audits (no unit of work's outbox needed)."""
        return Acting(actor=actor, clock=self.clock, kms=self.kms)

    def _relay_now(self, tenant_id: str | None, ids: list[str]) -> None:
        # Best effort on the request's own edge: whatever fails here the cron relay picks up.
        try:
            outbox.relay(self.db, self.redis, clock=self.clock, tenant_id=tenant_id, ids=ids)
        except Exception:
            log.exception("immediate outbox relay failed; the cron relay will retry")

    def processor(self, livemode: bool) -> Processor:
        """The processor for a payment: the sandbox for test mode; live mode needs a live processor."""
        return get_processor(livemode=livemode, redis=self.redis, config=self.sandbox)

    def mailer(self) -> Mailer:
        """The mailer KASSA_MAIL_URL names (built per call, like `processor`, so a test that points the
        settings at its own SMTP server is heard by the worker at once)."""
        return mailer_from_url(self.settings.mail_url)

    def relay(self) -> int:
        return outbox.relay(self.db, self.redis, clock=self.clock)


@dataclass
class OutboxSink:
    runtime: Runtime
    uow: UnitOfWork

    def enqueue(
        self,
        func: Callable[..., Any] | str,
        *,
        tenant_id: str | None,
        kwargs: dict[str, str | int | bool | None],
        delay: timedelta | None = None,
    ) -> None:
        rt = self.runtime
        outbox.add(
            self.uow,
            func,
            clock=rt.clock,
            tenant_id=tenant_id,
            kwargs=kwargs,
            delay=delay,
            on_commit=rt._relay_now,
        )


_current: Runtime | None = None


def build(settings: Settings, **engine_kwargs: Any) -> Runtime:
    return Runtime(
        settings=settings,
        db=Database(
            settings.app_database_url,
            settings.database_url,
            pooler=settings.database_pooler,
            **engine_kwargs,
        ),
        redis=connect_redis(settings.redis_url),
        kms=LocalKMS(settings.master_key_bytes(), previous=settings.previous_master_keys_bytes()),
        sandbox=SandboxConfig.from_env(os.environ),
    )


def configure(settings: Settings, **engine_kwargs: Any) -> Runtime:
    """Make (or replace) this process's runtime."""
    global _current
    if _current is not None:
        _current.db.dispose()
        if _current._analytics is not None:
            _current._analytics.dispose()
    _current = build(settings, **engine_kwargs)
    return _current


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("Kassa runtime not configured: call core.jobs.runtime.configure(settings) first")
    return _current


def _after_fork_in_child() -> None:
    # RQ forks a work horse per job: the child must not reuse the parent's pooled DB connections.
    if _current is not None:
        _current.db.engine.dispose(close=False)
        if _current._analytics is not None:
            _current._analytics.engine.dispose(close=False)


os.register_at_fork(after_in_child=partial(_after_fork_in_child))
