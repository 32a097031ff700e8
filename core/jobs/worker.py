"""Worker and cron loops: `kassa worker`, `kassa cron`, and the embedded demo's threads."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from rq import SimpleWorker, Worker
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker

from core.jobs import catalogue, cronlock
from core.jobs.queues import DEFAULT, QUEUE_NAMES
from core.jobs.registry import Cron, spec_for
from core.jobs.runtime import Runtime
from core.memory import current_rss_mb

log = logging.getLogger(__name__)


class RecyclingWorker(SimpleWorker):
    """RQ's SimpleWorker (each job in this process: warm connections, imports and caches) that stops
    after the job which leaves it above `max_rss_mb` of resident memory, for its supervisor to start a
    fresh one: a job that leaks cannot grow the process without bound. `kassa worker`'s default."""

    max_rss_mb: float | None = None

    def execute_job(self, job: Any, queue: Any) -> Any:
        result = super().execute_job(job, queue)
        if self.max_rss_mb is not None:
            resident = current_rss_mb()
            if resident is not None and resident > self.max_rss_mb:
                log.warning(
                    "worker: %.0f MB resident after job %s, over --max-memory %.0f MB: stopping to restart",
                    resident,
                    job.id,
                    self.max_rss_mb,
                )
                self._stop_requested = True
        return result


def make_worker(
    rt: Runtime, queues: Sequence[str] = QUEUE_NAMES, *, worker_class: type[BaseWorker] = Worker
) -> BaseWorker:
    catalogue.load()  # the jobs a job enqueues are looked up in the registry
    return worker_class([rt.queue(name) for name in queues], connection=rt.redis, serializer=JSONSerializer)


def run_worker(
    rt: Runtime,
    queues: Sequence[str],
    *,
    worker_class: type[BaseWorker],
    burst: bool,
    max_jobs: int | None,
    logging_level: str,
    max_rss_mb: float | None = None,
) -> None:
    """`kassa worker`: RQ's worker, started again when a Redis outage made it quit.

    RQ waits out an outage only while it waits for a job; one that meets it anywhere else in its loop
    (finishing a job, its heartbeat) quits. Then, while Redis does not answer, this waits for it and starts a
    fresh worker, so an outage needs no supervisor. A stop that was asked for (SIGTERM, Ctrl-C), `burst`,
    `max_jobs`, the memory ceiling of a `RecyclingWorker` (`max_rss_mb`) or any other error ends the
    process as before."""
    while True:
        worker = make_worker(rt, queues, worker_class=worker_class)
        if isinstance(worker, RecyclingWorker):
            worker.max_rss_mb = max_rss_mb
        try:
            worker.work(burst=burst, logging_level=logging_level, with_scheduler=True, max_jobs=max_jobs)
        except redis.RedisError as exc:  # its teardown (registering its death) needs Redis too
            log.warning("worker: Redis unavailable while stopping (%s)", type(exc).__name__)
        # RQ keeps no public flag for "a stop was asked for"; its signal handler stamps this date.
        if burst or max_jobs is not None or getattr(worker, "_shutdown_requested_date", None) is not None:
            return
        if isinstance(worker, RecyclingWorker) and worker._stop_requested:
            return  # the memory ceiling: the supervisor starts a fresh process
        if not _wait_for_redis(rt):
            return


def _wait_for_redis(rt: Runtime) -> bool:
    """True once Redis answers again after an outage; False at once if it answers now (the worker quit
    for another reason) or when a stop is asked for while waiting."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        waited, delay = False, 0.5
        while not stop.is_set():
            try:
                rt.redis.ping()
            except redis.RedisError:
                if not waited:
                    log.warning("worker: Redis unavailable; starting again once it answers")
                waited = True
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            return waited
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ThreadWorker(SimpleWorker):
    """Runs jobs in the calling thread; signal handlers belong to the main thread, so none are installed
    and job timeouts use a timer instead of SIGALRM.

    It does not subscribe to RQ's command channel (`rq`'s shutdown and kill-horse commands, for
    `kassa worker` processes): the embedded loop runs one short burst after another and is stopped by its
    event. A subscription per burst would cost a Redis connection and a listener thread each time, and
    RQ's teardown waits up to a second for that thread, which a race leaves asleep on its 60 s read: a
    delivery queued meanwhile waited that second."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def subscribe(self) -> None:
        pass


class ScheduledRetries:
    """Puts jobs whose retry back-off is over back on their queues: RQ's scheduler, driven by the caller.

    `kassa worker` runs RQ's own scheduler process (`with_scheduler=True`). A loop of burst workers must
    not: each burst would make a scheduler with a Redis connection pool of its own, and leak it.
    """

    def __init__(self, rt: Runtime, queues: Sequence[str] = QUEUE_NAMES) -> None:
        self.scheduler = RQScheduler(
            [rt.queue(name) for name in queues],
            connection=rt.redis,
            serializer=JSONSerializer,
            logging_level=logging.WARNING,  # at INFO it would log its lock at every burst
        )

    def run_once(self) -> None:
        # RQ's scheduler is untyped. One scheduler at a time holds the lock, across processes.
        if self.scheduler.acquire_locks():  # type: ignore[no-untyped-call]
            try:
                self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            finally:
                self.scheduler.release_locks()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.scheduler.connection.connection_pool.disconnect()


def run_worker_thread(rt: Runtime, stop: threading.Event, *, poll: float = 0.2) -> threading.Thread:
    """The embedded demo's worker: re-queues due retries, then drains every queue, until `stop` is set."""

    def loop() -> None:
        worker = make_worker(rt, worker_class=ThreadWorker)
        retries = ScheduledRetries(rt)
        try:
            while not stop.is_set():
                try:
                    retries.run_once()
                    worker.work(burst=True, logging_level="WARNING")
                except Exception:
                    log.exception("embedded worker burst failed")
                stop.wait(poll)
        finally:
            retries.close()

    thread = threading.Thread(target=loop, name="kassa-worker", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Scheduled:
    name: str
    every_seconds: float
    action: Callable[[Runtime], object]


def _enqueue(entry: Cron) -> Callable[[Runtime], object]:
    job_name = spec_for(entry.job).name

    def enqueue(rt: Runtime) -> object:
        if not entry.per_tenant:
            return rt.queue(DEFAULT).enqueue_call(func=job_name, kwargs={})
        tenant_ids = rt.db.tenant_ids()
        for tenant_id in tenant_ids:
            rt.queue(DEFAULT).enqueue_call(func=job_name, kwargs={"tenant_id": tenant_id})
        return len(tenant_ids)

    return enqueue


#: What `kassa cron` runs. The relay is work the scheduler does itself (every second); the rest are the
#: job modules' declared `CRON` entries (core/jobs/catalogue.py), each enqueued on `default`.
SCHEDULE: tuple[Scheduled, ...] = (
    Scheduled("outbox relay", 1.0, lambda rt: rt.relay()),
    *(Scheduled(entry.name, entry.every_seconds, _enqueue(entry)) for entry in catalogue.cron_entries()),
)


def run_cron(
    rt: Runtime,
    stop: threading.Event,
    *,
    schedule: Sequence[Scheduled] = SCHEDULE,
    tick: float = 0.25,
    lock_ttl: float = cronlock.DEFAULT_TTL,
) -> None:
    """Run `schedule` while this process holds the cron lock (core/jobs/cronlock.py); wait and take it
    over when the holder goes. Each entry runs once per period of its interval, counted from the epoch:
    a cron that starts or takes over in a period that already ran skips it until the next one."""
    lock = cronlock.CronLock(rt.redis, ttl=lock_ttl)
    last_period: dict[str, int] = {}
    try:
        while not stop.is_set():
            was_held = lock.held
            try:
                held = lock.acquire_or_renew()
            except redis.RedisError as exc:
                log.warning("cron: lock not reachable, Redis unavailable (%s)", type(exc).__name__)
                held = False
            if held and not was_held:
                log.info("cron: holding the schedule (lock %s)", lock.token)
            elif was_held and not held:
                log.warning("cron: lost the lock; waiting to take it over")
            if held:
                _run_due(rt, lock, schedule, last_period)
            stop.wait(tick)
    finally:
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            lock.release()


def _run_due(
    rt: Runtime, lock: cronlock.CronLock, schedule: Sequence[Scheduled], last_period: dict[str, int]
) -> None:
    for item in schedule:
        # Wall time, not the runtime's clock: the schedule follows real seconds, and every cron process
        # (on any machine) must count the same periods.
        period = int(time.time() // item.every_seconds)
        if last_period.get(item.name) == period:
            continue
        try:
            claimed = lock.claim(item.name, period, period_seconds=item.every_seconds)
        except redis.RedisError as exc:
            log.warning("cron: %s skipped, Redis unavailable (%s)", item.name, type(exc).__name__)
            return
        if not lock.held:
            return  # a successor holds the schedule now: run nothing more
        last_period[item.name] = period
        if not claimed:
            continue  # this period ran already (before a takeover or a restart)
        try:
            item.action(rt)
        except redis.RedisError as exc:
            log.warning("cron: %s skipped, Redis unavailable (%s)", item.name, type(exc).__name__)
        except Exception:
            log.exception("cron: %s failed", item.name)


def run_cron_thread(rt: Runtime, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=run_cron, args=(rt, stop), name="kassa-cron", daemon=True)
    thread.start()
    return thread
