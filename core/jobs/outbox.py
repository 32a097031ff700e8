"""Transactional outbox: a job is written as a row in the same transaction as the change that causes it.

`relay()` moves committed rows to RQ. If Redis is down the rows simply wait, so an outage delays work
and loses none; a row may reach RQ twice (crash between enqueue and marking it delivered), which is why
every job is safe to run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Retry
from sqlalchemy import Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.db import Base, Database, IdStr, JsonDict, Timestamp, UnitOfWork
from core.ids import new_id
from core.jobs.queues import RedisClient, get_queue
from core.jobs.registry import spec_for

log = logging.getLogger(__name__)


class OutboxMessage(Base):
    """A job waiting to be handed to RQ.

    Not tenant-scoped: the relay drains every tenant's rows. It holds only a job name and ids, which is
    why it may live outside row-level security (docs/security.md).
    """

    __tablename__ = "outbox"

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    #: The tenant the job will run for (null for system jobs).
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(20))
    #: Registered job name (core/jobs/registry.py).
    job: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[JsonDict]
    created_at: Mapped[Timestamp]
    #: Not before this time (delayed jobs, relay back-off).
    available_at: Mapped[Timestamp] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def add(
    uow: UnitOfWork,
    func: Callable[..., Any] | str,
    *,
    clock: Clock,
    tenant_id: str | None = None,
    kwargs: dict[str, str | int | bool | None] | None = None,
    delay: timedelta | None = None,
    on_commit: Callable[[list[str]], None] | None = None,
) -> OutboxMessage:
    """Write a job into the outbox in `uow`'s transaction. Arguments must be JSON scalars (ids)."""
    spec = spec_for(func)
    now = clock.now()
    message = OutboxMessage(
        id=new_id("obx"),
        tenant_id=tenant_id,
        queue=spec.queue,
        job=spec.name,
        kwargs=dict(kwargs or {}),
        created_at=now,
        available_at=now + (delay or timedelta(0)),
        delivered_at=None,
        attempts=0,
    )
    uow.session.add(message)
    if on_commit is not None and delay is None:
        message_id = message.id
        uow.on_commit(lambda: on_commit([message_id]))
    return message


def relay(
    db: Database, connection: RedisClient, *, clock: Clock, ids: list[str] | None = None, limit: int = 200
) -> int:
    """Enqueue due outbox rows on RQ and mark them delivered. Returns how many were moved.

    Raises nothing for a Redis outage: the rows stay for the next pass (counted in `attempts`).
    """
    now = clock.now()
    with db.unit_of_work() as uow:
        query = select(OutboxMessage).where(
            OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now
        )
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        query = query.order_by(OutboxMessage.id).limit(limit)
        if db.is_postgres:
            # Several relays (cron, request edges) can run at once: each takes different rows.
            query = query.with_for_update(skip_locked=True)
        messages = list(uow.session.scalars(query))
        if not messages:
            return 0
        try:
            with connection.pipeline() as pipe:
                for message in messages:
                    spec = spec_for(message.job)
                    get_queue(message.queue, connection).enqueue_call(
                        func=message.job,
                        kwargs=message.kwargs,
                        job_id=message.id,
                        timeout=spec.timeout,
                        retry=Retry(max=len(spec.retry_intervals), interval=list(spec.retry_intervals))
                        if spec.retry_intervals
                        else None,
                        result_ttl=3600,
                        failure_ttl=7 * 86400,
                        pipeline=pipe,
                    )
                pipe.execute()
        except redis.RedisError as exc:
            log.warning(
                "outbox relay: Redis unavailable, %d job(s) wait: %s", len(messages), type(exc).__name__
            )
            for message in messages:
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: Redis unavailable"
            return 0
        for message in messages:
            message.delivered_at = now
            message.attempts += 1
            message.last_error = None
        return len(messages)


def prune(db: Database, *, clock: Clock, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete delivered rows older than `older_than` (the audit trail, not the outbox, is the record)."""
    with db.unit_of_work() as uow:
        result = uow.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.delivered_at.is_not(None), OutboxMessage.delivered_at < clock.now() - older_than
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def pending_count(db: Database) -> int:
    with db.unit_of_work() as uow:
        count = uow.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
        )
        return int(count or 0)
