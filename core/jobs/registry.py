"""The jobs a worker may run. The outbox stores a job's registered name, never an arbitrary callable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

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


def job(
    *, queue: str, retry_intervals: tuple[int, ...] = (5, 30, 300), timeout: int = 120
) -> Callable[[F], F]:
    """Register a job function under its dotted path (what RQ imports in the worker)."""

    def register(func: F) -> F:
        name = f"{func.__module__}.{func.__qualname__}"
        JOBS[name] = JobSpec(name=name, queue=queue, retry_intervals=retry_intervals, timeout=timeout)
        return func

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
