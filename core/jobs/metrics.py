"""The figures read at scrape time: RQ queue depth and age, failed jobs per queue, outbox lag.

One scrape asks Redis a few questions per queue and the database one statement per outbox table; a
component that does not answer is reported as `kassa_scrape_error{component=...} 1` instead of failing
the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text

from core.jobs.outbox import SystemOutboxMessage
from core.jobs.queues import QUEUE_NAMES
from core.jobs.runtime import Runtime

log = logging.getLogger(__name__)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def outbox_oldest(rt: Runtime, now: datetime) -> datetime | None:
    """When the oldest due, undelivered outbox row (any tenant, or the system outbox) became due."""
    oldest: list[datetime] = []
    with rt.db.unit_of_work() as uow:
        system = uow.session.scalar(
            select(func.min(SystemOutboxMessage.available_at)).where(
                SystemOutboxMessage.delivered_at.is_(None), SystemOutboxMessage.available_at <= now
            )
        )
        if system is not None:
            oldest.append(_aware(system))
        if rt.db.is_postgres:
            # Across tenants through the one narrow SECURITY DEFINER function (migration 0035).
            tenants = uow.session.execute(text("SELECT kassa_outbox_oldest(:now)"), {"now": now}).scalar()
        else:
            from core.jobs.outbox import OutboxMessage

            tenants = uow.session.scalar(
                select(func.min(OutboxMessage.available_at))
                .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now)
                .execution_options(kassa_unscoped=True)
            )
        if tenants is not None:
            oldest.append(_aware(tenants))
    return min(oldest) if oldest else None


class RuntimeCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterable[Metric]:
        rt = self.rt
        now = rt.clock.now()
        errors = GaugeMetricFamily(
            "kassa_scrape_error", "1 when a component did not answer this scrape.", labels=["component"]
        )
        depth = GaugeMetricFamily("kassa_queue_depth", "Jobs waiting on an RQ queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "kassa_queue_oldest_job_age_seconds",
            "Seconds the oldest job waiting on the queue has waited (0: none waits).",
            labels=["queue"],
        )
        failed = GaugeMetricFamily(
            "kassa_queue_failed_jobs",
            "Jobs in the queue's failed registry (retries exhausted).",
            labels=["queue"],
        )
        try:
            for name in QUEUE_NAMES:
                queue = rt.queue(name)
                depth.add_metric([name], queue.count)
                waited = 0.0
                first = queue.get_job_ids(0, 1)
                if first:
                    try:
                        job = Job.fetch(first[0], connection=rt.redis, serializer=queue.serializer)
                    except NoSuchJobError:  # taken or expired between the two questions
                        job = None
                    if job is not None and job.enqueued_at is not None:
                        waited = max(0.0, (now - _aware(job.enqueued_at)).total_seconds())
                age.add_metric([name], waited)
                failed.add_metric([name], FailedJobRegistry(queue=queue).count)
            errors.add_metric(["redis"], 0)
        except Exception as exc:
            log.warning("metrics: Redis did not answer (%s)", type(exc).__name__)
            errors.add_metric(["redis"], 1)
        yield depth
        yield age
        yield failed
        lag = GaugeMetricFamily(
            "kassa_outbox_lag_seconds",
            "Seconds the oldest due outbox row has waited for the relay (0: none waits).",
        )
        try:
            oldest = outbox_oldest(rt, now)
            lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
            errors.add_metric(["database"], 0)
            yield lag
        except Exception as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            errors.add_metric(["database"], 1)
        yield errors
