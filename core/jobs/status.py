"""The operator's view of the platform: RQ queue depths, failed jobs (and their retry), worker liveness,
outbox lag, read-replica lag and the recent unexpected errors of the web processes.

One question, one answer (`snapshot`), shown by `kassa status` and the operator page of the portal
(`/portal/operations`, for operator tenants only: docs/operations.md "Operations status"). Counts and
job names only: a job's arguments are ids, and no tenant's data is read beyond its outbox's size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from core.clock import Clock
from core.db import Database
from core.errors import NotFound
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
#: A replica further behind than this (or not receiving WAL at all) makes the snapshot unhealthy: the
#: reports read from it are that old.
REPLICA_STALE: Final = timedelta(minutes=5)
#: The Redis list of the web processes' recent unexpected errors (newest first), and how many it keeps.
RECENT_ERRORS_KEY: Final = "kassa:operations:recent-errors"
RECENT_ERRORS_KEPT: Final = 50
#: How many of them the view lists.
RECENT_ERRORS_SHOWN: Final = 20


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
    #: How long the oldest due row has waited, in whole seconds (0: nothing waits): the outbox lag.
    lag_seconds: int = 0


@dataclass(frozen=True)
class ReplicaStatus:
    """The analytics database (ANALYTICS_DATABASE_URL), as it sees itself."""

    #: It is a standby (`pg_is_in_recovery()`); false: the URL names a primary, and there is no lag.
    standby: bool
    #: A WAL receiver runs (the standby streams from its primary).
    receiving: bool
    #: When the last transaction it replayed had committed on the primary.
    replayed_at: datetime | None
    #: Seconds behind the primary: 0 when everything received is replayed, else the age of the last
    #: replayed commit. None when it is not a standby or has replayed nothing yet.
    lag_seconds: float | None
    #: Why it could not be asked (unreachable, refused), or None.
    error: str | None = None

    @property
    def stale(self) -> bool:
        if self.error is not None or not self.standby:
            return self.error is not None
        return not self.receiving or (
            self.lag_seconds is not None and self.lag_seconds > REPLICA_STALE.total_seconds()
        )


@dataclass(frozen=True)
class RecentError:
    """An unexpected error a web process answered with a 5xx (core/web/errors.py records it)."""

    at: datetime
    status: int
    method: str
    #: The URL rule (`/pay/<session_id>`), not the path: a path may carry an id that grants access.
    route: str
    request_id: str
    trace_id: str | None
    #: The exception's type and message, card numbers masked, cut to 300 characters.
    error: str


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    queues: tuple[QueueStatus, ...]
    failed_jobs: tuple[FailedJob, ...]
    workers: tuple[WorkerStatus, ...]
    outbox: OutboxStatus
    #: None: no replica configured (reports read the main database).
    replica: ReplicaStatus | None = None
    recent_errors: tuple[RecentError, ...] = ()

    @property
    def healthy(self) -> bool:
        """A worker alive, no stale outbox backlog, a configured replica streaming and not far behind
        (failed jobs and recent errors are for a look, not an outage)."""
        replica_ok = self.replica is None or not self.replica.stale
        return any(w.alive for w in self.workers) and not self.outbox.stale and replica_ok

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
        lag_seconds=max(0, int((now - oldest).total_seconds())) if oldest is not None else 0,
    )


#: Lag as PostgreSQL's monitoring docs measure it on a standby: nothing left to replay is no lag, even
#: when the last commit is old (an idle primary); else the age of the last replayed commit. The functions
#: and pg_stat_wal_receiver's pid are readable by any role, so the application role can ask.
_REPLICA_SQL = text(
    """
    SELECT pg_is_in_recovery(),
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
           pg_last_xact_replay_timestamp(),
           CASE WHEN NOT pg_is_in_recovery() THEN NULL
                WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
           END
    """
)


def replica_lag(db: Database, analytics: Database) -> ReplicaStatus | None:
    """The analytics database's replication state, or None when reports read the main database (no
    ANALYTICS_DATABASE_URL) or it is not PostgreSQL."""
    if analytics is db or not analytics.is_postgres:
        return None
    try:
        with analytics.engine.connect() as conn:
            standby, receiving, replayed_at, lag = conn.execute(_REPLICA_SQL).one()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [""])[0]
        return ReplicaStatus(
            standby=False,
            receiving=False,
            replayed_at=None,
            lag_seconds=None,
            error=f"unavailable ({type(cause).__name__}: {first})"[:300],
        )
    return ReplicaStatus(
        standby=bool(standby),
        receiving=bool(receiving),
        replayed_at=_aware(replayed_at),
        lag_seconds=None if lag is None else round(float(lag), 3),
    )


def record_error(
    redis: RedisClient,
    *,
    at: datetime,
    status: int,
    method: str,
    route: str,
    request_id: str,
    trace_id: str | None,
    error: str,
) -> None:
    """Keep one unexpected error for the operator view (the newest RECENT_ERRORS_KEPT). `error` must have
    its card numbers masked already (the web edge does it with the log filter's masking)."""
    entry = {
        "at": at.isoformat(),
        "status": status,
        "method": method,
        "route": route,
        "request_id": request_id,
        "trace_id": trace_id,
        "error": error[:300],
    }
    with redis.pipeline() as pipe:
        pipe.lpush(RECENT_ERRORS_KEY, json.dumps(entry))
        pipe.ltrim(RECENT_ERRORS_KEY, 0, RECENT_ERRORS_KEPT - 1)
        pipe.execute()


def recent_errors(redis: RedisClient, *, limit: int = RECENT_ERRORS_SHOWN) -> tuple[RecentError, ...]:
    result = []
    for raw in redis.lrange(RECENT_ERRORS_KEY, 0, limit - 1):
        try:
            entry = json.loads(raw)
            result.append(
                RecentError(
                    at=datetime.fromisoformat(entry["at"]),
                    status=int(entry["status"]),
                    method=str(entry["method"]),
                    route=str(entry["route"]),
                    request_id=str(entry["request_id"]),
                    trace_id=entry.get("trace_id"),
                    error=str(entry["error"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # an entry of another version: skipped, not a broken page
    return tuple(result)


def snapshot(
    db: Database, redis: RedisClient, *, clock: Clock, analytics: Database | None = None
) -> Snapshot:
    now = clock.now()
    queues, failed = _queues(redis)
    return Snapshot(
        taken_at=now,
        queues=tuple(queues),
        failed_jobs=tuple(failed),
        workers=tuple(_workers(redis, now)),
        outbox=_outbox(db, now),
        replica=replica_lag(db, analytics) if analytics is not None else None,
        recent_errors=recent_errors(redis),
    )


# Retrying failed jobs ---------------------------------------------------------------------------------


def _failed_registry(redis: RedisClient, queue: str) -> FailedJobRegistry:
    if queue not in QUEUE_NAMES:
        raise NotFound(f"There is no queue {queue!r}.", param="queue")
    return FailedJobRegistry(queue=get_queue(queue, redis))


def retry_failed_job(redis: RedisClient, *, queue: str, job_id: str) -> str:
    """Put one failed job of `queue` back on it (RQ's failed-job registry requeue); returns its function's
    name. A job that is not (or no longer) failed there is NotFound: retried by someone else meanwhile,
    or expired. The job itself is safe to run twice (ARCHITECTURE.md, "Jobs")."""
    registry = _failed_registry(redis, queue)
    try:
        job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
        registry.requeue(job)
    except (NoSuchJobError, InvalidJobOperation):
        raise NotFound("That job is not among the failed jobs (retried already, or expired).") from None
    return job.func_name or "?"


def retry_failed_queue(redis: RedisClient, *, queue: str) -> int:
    """Put every failed job of `queue` back on it; returns how many went back."""
    registry = _failed_registry(redis, queue)
    count = 0
    for job_id in registry.get_job_ids():
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            continue  # retried by someone else meanwhile, or its data expired
        count += 1
    return count


def is_operator(*, tenant_id: str, slug: str, operator_tenants: tuple[str, ...]) -> bool:
    """Whether the tenant (by id or slug) runs the platform (`KASSA_OPERATOR_TENANTS`)."""
    return bool({tenant_id, slug} & set(operator_tenants))
