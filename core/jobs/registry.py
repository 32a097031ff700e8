"""The jobs a worker may run. The outbox stores a job's registered name, never an arbitrary callable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from rq import get_current_job

from core import metrics, telemetry
from core.jobs import catalogue
from core.jobs.catalogue import Cron as Cron

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str
    #: Seconds to wait before each RQ retry of a job that raised.
    retry_intervals: tuple[int, ...]
    timeout: int


JOBS: dict[str, JobSpec] = {}
#: The RQ job's `meta` key holding the W3C trace context of the outbox row (core/telemetry.py).
TRACEPARENT = "traceparent"


def job(
    *, queue: str, retry_intervals: tuple[int, ...] = (5, 30, 300), timeout: int = 120
) -> Callable[[F], F]:
    """Register a job function under its dotted path (what RQ imports in the worker).

    Each run is a span continuing the trace of the outbox row that caused it (the RQ job's
    `meta["traceparent"]`, core/jobs/outbox.py), and is counted (core/metrics.py)."""

    def register(func: F) -> F:
        name = f"{func.__module__}.{func.__qualname__}"
        JOBS[name] = JobSpec(name=name, queue=queue, retry_intervals=retry_intervals, timeout=timeout)

        @wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            current = get_current_job()
            traceparent = current.meta.get(TRACEPARENT) if current is not None else None
            attributes = {"kassa.job": name, "kassa.queue": queue}
            if current is not None:
                attributes["kassa.job_id"] = current.id
            started = time.perf_counter()
            with telemetry.job_span(name, traceparent=traceparent, attributes=attributes):
                try:
                    result = func(*args, **kwargs)
                except Exception:
                    metrics.JOBS.labels(name, queue, "failed").inc()
                    metrics.JOB_FAILURES.labels(name, queue).inc()
                    raise
                finally:
                    metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
                metrics.JOBS.labels(name, queue, "ok").inc()
                return result

        return run  # type: ignore[return-value]

    return register


def spec_for(func_or_name: Callable[..., Any] | str) -> JobSpec:
    name = (
        func_or_name
        if isinstance(func_or_name, str)
        else f"{func_or_name.__module__}.{func_or_name.__qualname__}"
    )
    if name not in JOBS:
        # Jobs register when their module is imported: load the declared job modules (catalogue.py).
        catalogue.load()
    try:
        return JOBS[name]
    except KeyError:
        raise LookupError(f"{name} is not a registered job (decorate it with @job)") from None
