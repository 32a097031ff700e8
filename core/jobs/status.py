"""The operator's view of background work: RQ queue depths, failed jobs, worker liveness, outbox backlog.

One question, one answer (`snapshot`), shown by `kassa status` and the operator page of the portal
(`/portal/operations`, for operator tenants only: docs/operations.md "Operations status"). Counts and
job names only: a job's arguments are ids, and no tenant's data is read beyond its outbox's size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from core.clock import Clock
from core.db import Database
from core.jobs.outbox import OutboxMessage, SystemOutboxMessage
from core.jobs.queues import QUEUE_NAMES, RedisClient, get_queue

#: A worker whose last heartbeat is older than this is reported as not alive (RQ beats every few
#: seconds while idle and at each job; its registration itself expires after the worker TTL).
HEARTBEAT_STALE: Final = timedelta(seconds=90)
#: An outbox row due longer than this means the relay (`kassa cron`, or the request edges) is not
#: moving rows to RQ: Redis down, or no cron running.
OUTBOX_STALE: Final = timedelta(minutes=2)
#: How many of the newest failed jobs the view lists.
FAILED_SHOWN: Final = 10


@dataclass(frozen=True)
class QueueStatus:
    name: str
    #: Waiting to be picked up.
    queued: int
    #: Being run by a worker now.
    started: int
    #: Waiting for a retry's time (RQ's scheduled registry).
    scheduled: int
    #: Failed for good (kept 7 days: outbox.py's failure_ttl).
    failed: int


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    job: str
    ended_at: datetime | None
    #: The exception's last line (its type and message), not the traceback.
    error: str


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    state: str
    queues: tuple[str, ...]
    last_heartbeat: datetime | None
    alive: bool
    current_job: str | None


@dataclass(frozen=True)
class OutboxStatus:
    #: Rows not yet handed to RQ and due now (tenants' and the system's).
    due: int
    #: Rows waiting for a later time (delayed jobs, back-offs).
    delayed: int
    #: When the oldest due row fell due, or None.
    oldest_due_at: datetime | None
    #: The oldest due row waited longer than OUTBOX_STALE: the relay is not running.
    stale: bool


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    queues: tuple[QueueStatus, ...]
    failed_jobs: tuple[FailedJob, ...]
    workers: tuple[WorkerStatus, ...]
    outbox: OutboxStatus

    @property
    def healthy(self) -> bool:
        """A worker alive, no stale outbox backlog (failed jobs are for a look, not an outage)."""
        return any(w.alive for w in self.workers) and not self.outbox.stale

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        body: dict[str, Any] = plain(asdict(self))
        body["healthy"] = self.healthy
        return body


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _queues(redis: RedisClient) -> tuple[list[QueueStatus], list[FailedJob]]:
    statuses, failed = [], []
    for name in QUEUE_NAMES:
        queue = get_queue(name, redis)
        failed_registry = FailedJobRegistry(queue=queue)
        statuses.append(
            QueueStatus(
                name=name,
                queued=queue.count,
                started=StartedJobRegistry(queue=queue).count,
                scheduled=ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
                failed=failed_registry.count,
            )
        )
        ids = failed_registry.get_job_ids(-FAILED_SHOWN, -1)
        for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
            if job is None:
                continue
            failed.append(
                FailedJob(
                    id=job.id,
                    queue=name,
                    job=job.func_name or "?",
                    ended_at=_aware(job.ended_at),
                    error=_last_line(job.exc_info),
                )
            )
    failed.sort(key=lambda j: j.ended_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return statuses, failed[:FAILED_SHOWN]


def _workers(redis: RedisClient, now: datetime) -> list[WorkerStatus]:
    result = []
    for worker in Worker.all(connection=redis, serializer=JSONSerializer):
        beat = _aware(worker.last_heartbeat)
        current = worker.get_current_job_id()
        result.append(
            WorkerStatus(
                name=worker.name,
                state=str(worker.get_state()),
                queues=tuple(worker.queue_names()),
                last_heartbeat=beat,
                alive=beat is not None and now - beat <= HEARTBEAT_STALE,
                current_job=current,
            )
        )
    return sorted(result, key=lambda w: w.name)


def _outbox(db: Database, now: datetime) -> OutboxStatus:
    due = delayed = 0
    oldest: datetime | None = None

    def count(uow_session: Any, model: type[OutboxMessage] | type[SystemOutboxMessage]) -> None:
        nonlocal due, delayed, oldest
        pending = model.delivered_at.is_(None)
        row = uow_session.execute(
            select(
                func.count().filter(model.available_at <= now),
                func.count().filter(model.available_at > now),
                func.min(model.available_at).filter(model.available_at <= now),
            ).where(pending)
        ).one()
        due += int(row[0])
        delayed += int(row[1])
        first = _aware(row[2])
        if first is not None and (oldest is None or first < oldest):
            oldest = first

    with db.unit_of_work() as uow:
        count(uow.session, SystemOutboxMessage)
    # Row-level security shows each tenant's outbox only under that tenant: one short read per tenant.
    for tenant_id in db.tenant_ids():
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            count(uow.session, OutboxMessage)
    return OutboxStatus(
        due=due,
        delayed=delayed,
        oldest_due_at=oldest,
        stale=oldest is not None and now - oldest > OUTBOX_STALE,
    )


def snapshot(db: Database, redis: RedisClient, *, clock: Clock) -> Snapshot:
    now = clock.now()
    queues, failed = _queues(redis)
    return Snapshot(
        taken_at=now,
        queues=tuple(queues),
        failed_jobs=tuple(failed),
        workers=tuple(_workers(redis, now)),
        outbox=_outbox(db, now),
    )


def is_operator(*, tenant_id: str, slug: str, operator_tenants: tuple[str, ...]) -> bool:
    """Whether the tenant (by id or slug) runs the platform (`KASSA_OPERATOR_TENANTS`)."""
    return bool({tenant_id, slug} & set(operator_tenants))
