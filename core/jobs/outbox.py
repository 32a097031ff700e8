"""Transactional outbox: a job is written as a row in the same transaction as the change that causes it.

`relay()` moves committed rows to RQ. If Redis is down the rows simply wait, so an outage delays work
and loses none; a row may reach RQ twice (crash between enqueue and marking it delivered), which is why
every job is safe to run twice.

A tenant's jobs live in `outbox`, a tenant-owned table like the others (`(tenant_id, id)` key, forced
row-level security). The jobs of no tenant live in `system_outbox`, which holds no tenant's data. The
relay runs as the application role: on PostgreSQL it learns which tenants' rows are due through one
narrow SECURITY DEFINER function (`kassa_outbox_due`: ids only, and it locks them), then reads and
marks each tenant's rows under that tenant's row-level security.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Retry
from sqlalchemy import Integer, String, Text, delete, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from core import telemetry
from core.clock import Clock
from core.db import Base, Database, IdStr, JsonDict, TenantMismatch, TenantScoped, Timestamp, UnitOfWork
from core.ids import new_id
from core.jobs.queues import RedisClient, get_queue
from core.jobs.registry import TRACEPARENT, spec_for

log = logging.getLogger(__name__)


class _OutboxColumns:
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
    #: The W3C `traceparent` of the span that wrote the row (None: not traced). The relay hands it to RQ
    #: as the job's `meta`, and the job's span continues that trace (core/telemetry.py).
    traceparent: Mapped[str | None] = mapped_column(String(55))


class OutboxMessage(TenantScoped, _OutboxColumns, Base):
    """A tenant's job waiting to be handed to RQ (a job name and ids, never personal or card data)."""

    __tablename__ = "outbox"

    id: Mapped[IdStr] = mapped_column(primary_key=True)


class SystemOutboxMessage(_OutboxColumns, Base):
    """A job of no tenant (housekeeping) waiting to be handed to RQ."""

    __tablename__ = "system_outbox"

    id: Mapped[IdStr] = mapped_column(primary_key=True)


Message = OutboxMessage | SystemOutboxMessage


def add(
    uow: UnitOfWork,
    func: Callable[..., Any] | str,
    *,
    clock: Clock,
    tenant_id: str | None = None,
    kwargs: dict[str, str | int | bool | None] | None = None,
    delay: timedelta | None = None,
    on_commit: Callable[[str | None, list[str]], None] | None = None,
) -> Message:
    """Write a job into the outbox in `uow`'s transaction. Arguments must be JSON scalars (ids).

    A job of `tenant_id` is written in that tenant's unit of work (row-level security checks it); a job
    of no tenant goes to the system outbox."""
    spec = spec_for(func)
    now = clock.now()
    fields: dict[str, Any] = {
        "queue": spec.queue,
        "job": spec.name,
        "kwargs": dict(kwargs or {}),
        "created_at": now,
        "available_at": now + (delay or timedelta(0)),
        "delivered_at": None,
        "attempts": 0,
        "traceparent": telemetry.current_traceparent(),
    }
    message: Message
    if tenant_id is None:
        message = SystemOutboxMessage(id=new_id("obx"), **fields)
    else:
        if uow.session.tenant_id != tenant_id:
            raise TenantMismatch(
                f"a job of tenant {tenant_id} written in a unit of work of tenant {uow.session.tenant_id}"
            )
        message = OutboxMessage(id=new_id("obx"), tenant_id=tenant_id, **fields)
    uow.session.add(message)
    if on_commit is not None and delay is None:
        # One relay pass after the commit for all of the transaction's jobs of this tenant.
        uow.on_commit_batched(on_commit, tenant_id, message.id)  # type: ignore[arg-type]
    return message


def _due_system(
    uow: UnitOfWork, db: Database, now: datetime, ids: list[str] | None, limit: int
) -> list[SystemOutboxMessage]:
    query = select(SystemOutboxMessage).where(
        SystemOutboxMessage.delivered_at.is_(None), SystemOutboxMessage.available_at <= now
    )
    if ids is not None:
        query = query.where(SystemOutboxMessage.id.in_(ids))
    query = query.order_by(SystemOutboxMessage.id).limit(limit)
    if db.is_postgres:
        # Several relays (cron, request edges) can run at once: each takes different rows.
        query = query.with_for_update(skip_locked=True)
    return list(uow.session.scalars(query))


def _due_tenant_ids(uow: UnitOfWork, db: Database, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(tenant_id, id) of every tenant's due rows, oldest first; on PostgreSQL locked for this transaction."""
    if db.is_postgres:
        rows = uow.session.execute(
            text("SELECT tenant_id, id FROM kassa_outbox_due(:now, :limit)"), {"now": now, "limit": limit}
        ).all()
    else:  # SQLite: no row-level security, and one writer at a time
        rows = uow.session.execute(
            select(OutboxMessage.tenant_id, OutboxMessage.id)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .execution_options(kassa_unscoped=True)
        ).all()
    return [(str(row[0]), str(row[1])) for row in rows]


def _claim(
    uow: UnitOfWork, db: Database, *, now: datetime, tenant_id: str | None, ids: list[str] | None, limit: int
) -> list[tuple[str | None, list[Message]]]:
    """The due messages, grouped by tenant (None: the system outbox)."""
    if ids is not None:
        if tenant_id is None:
            return [(None, list(_due_system(uow, db, now, ids, limit)))]
        query = select(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now
        )
        if db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        return [(tenant_id, list(uow.session.scalars(query)))]
    groups: list[tuple[str | None, list[Message]]] = [(None, list(_due_system(uow, db, now, None, limit)))]
    by_tenant: dict[str, list[str]] = {}
    for owner, message_id in _due_tenant_ids(uow, db, now, limit - len(groups[0][1])):
        by_tenant.setdefault(owner, []).append(message_id)
    for owner, message_ids in by_tenant.items():
        uow.bind_tenant(owner)
        found = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(message_ids)).order_by(OutboxMessage.id)
        )
        groups.append((owner, list(found)))
    return groups


def _mark(
    uow: UnitOfWork, groups: Sequence[tuple[str | None, list[Message]]], change: Callable[[Message], None]
) -> None:
    # Each tenant's rows are written under that tenant (the ORM's guard and row-level security agree).
    for owner, messages in groups:
        if not messages:
            continue
        uow.bind_tenant(owner)
        for message in messages:
            change(message)
        uow.session.flush()


def _enqueue(connection: RedisClient, messages: Sequence[Message]) -> None:
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
                meta={TRACEPARENT: message.traceparent} if message.traceparent else None,
                pipeline=pipe,
            )
        pipe.execute()


def _redis_down(messages: Sequence[Message], exc: Exception) -> str:
    log.warning("outbox relay: Redis unavailable, %d job(s) wait: %s", len(messages), type(exc).__name__)
    return f"{type(exc).__name__}: Redis unavailable"


def _relay_committed(
    db: Database, connection: RedisClient, *, now: datetime, tenant_id: str, ids: list[str]
) -> int:
    """The relay right after a commit, on PostgreSQL: claim and mark the rows in one statement (UPDATE of
    the rows no other relay holds, RETURNING them), enqueue, commit. If Redis refuses, the marks roll back
    and the failure is counted in a second, rarer transaction."""
    claimable = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.id.in_(ids), OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now
        )
        .with_for_update(skip_locked=True)
    )
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        messages = list(
            uow.session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(claimable.scalar_subquery()))
                .values(delivered_at=now, attempts=OutboxMessage.attempts + 1, last_error=None)
                .returning(OutboxMessage)
                .execution_options(synchronize_session=False)
            )
        )
        if not messages:
            return 0
        try:
            _enqueue(connection, messages)
        except redis.RedisError as exc:
            error = _redis_down(messages, exc)
            uow.session.rollback()
            uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m.id for m in messages]), OutboxMessage.delivered_at.is_(None))
                .values(attempts=OutboxMessage.attempts + 1, last_error=error)
                .execution_options(synchronize_session=False)
            )
            return 0
        return len(messages)


def relay(
    db: Database,
    connection: RedisClient,
    *,
    clock: Clock,
    tenant_id: str | None = None,
    ids: list[str] | None = None,
    limit: int = 200,
) -> int:
    """Enqueue due outbox rows on RQ and mark them delivered. Returns how many were moved.

    With `ids`, only those rows of `tenant_id` (None: system rows): the relay right after a commit. Without,
    every due row of every tenant and the system outbox, up to `limit`: the cron relay.
    Raises nothing for a Redis outage: the rows stay for the next pass (counted in `attempts`).
    """
    now = clock.now()
    if ids is not None and tenant_id is not None and db.is_postgres:
        return _relay_committed(db, connection, now=now, tenant_id=tenant_id, ids=ids)
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        groups = _claim(uow, db, now=now, tenant_id=tenant_id, ids=ids, limit=limit)
        messages = [message for _, batch in groups for message in batch]
        if not messages:
            return 0
        try:
            _enqueue(connection, messages)
        except redis.RedisError as exc:
            error = _redis_down(messages, exc)

            def failed(message: Message) -> None:
                message.attempts += 1
                message.last_error = error

            _mark(uow, groups, failed)
            return 0

        def delivered(message: Message) -> None:
            message.delivered_at = now
            message.attempts += 1
            message.last_error = None

        _mark(uow, groups, delivered)
        return len(messages)


def prune(db: Database, *, clock: Clock, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete delivered rows older than `older_than` (the audit trail, not the outbox, is the record)."""
    before = clock.now() - older_than
    with db.unit_of_work() as uow:
        system = uow.session.execute(
            delete(SystemOutboxMessage).where(
                SystemOutboxMessage.delivered_at.is_not(None), SystemOutboxMessage.delivered_at < before
            )
        )
        pruned = int(getattr(system, "rowcount", 0) or 0)
        if db.is_postgres:
            pruned += int(
                uow.session.execute(
                    text("SELECT kassa_outbox_prune(:before)"), {"before": before}
                ).scalar_one()
            )
        else:
            tenants = uow.session.execute(
                delete(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_not(None), OutboxMessage.delivered_at < before)
                .execution_options(kassa_unscoped=True)
            )
            pruned += int(getattr(tenants, "rowcount", 0) or 0)
        return pruned
