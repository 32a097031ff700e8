"""`kassa worker`'s default: jobs in the worker process (RQ's SimpleWorker), recycled by a memory ceiling.

Real `kassa worker` processes on the suite's PostgreSQL and Redis: one that a job leaves above its
`--max-memory` stops after that job (exit status 0, for its supervisor to start a fresh one) and leaves
the next job queued; one under its ceiling drains the queue. Crash safety of both worker classes is the
fault suite's (tests/chaos/test_worker_kills.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.jobs import outbox
from core.jobs.queues import DEFAULT
from core.jobs.runtime import Runtime
from core.jobs.worker import RecyclingWorker
from core.memory import current_rss_mb

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

JOB = "core.webhooks.jobs.sweep_deliveries"  # a job that reads the database and changes nothing here


def _queue_jobs(rt: Runtime, count: int) -> None:
    with rt.db.unit_of_work() as uow:
        for _ in range(count):
            outbox.add(uow, JOB, clock=rt.clock)
    assert rt.relay() == count
    assert rt.queue(DEFAULT).count == count


def _worker(*flags: str) -> subprocess.CompletedProcess[str]:
    kassa = str(Path(sys.executable).with_name("kassa"))
    return subprocess.run(
        [kassa, "worker", "--queue", "default", *flags],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_worker_over_its_memory_ceiling_stops_after_the_job_for_a_fresh_one(clean: Runtime) -> None:
    _queue_jobs(clean, 2)
    # Not --burst: only the ceiling can end this process (any Python process is above 1 MB).
    done = _worker("--max-memory", "1")
    assert done.returncode == 0, done.stderr
    assert "over --max-memory 1 MB: stopping to restart" in done.stderr
    assert clean.queue(DEFAULT).count == 1  # the next job waits for the fresh worker


def test_a_worker_under_its_ceiling_runs_every_job_in_its_own_process(clean: Runtime) -> None:
    _queue_jobs(clean, 3)
    done = _worker("--burst")
    assert done.returncode == 0, done.stderr
    assert clean.queue(DEFAULT).count == 0
    assert "stopping to restart" not in done.stderr


def test_the_resident_memory_is_read_from_the_process() -> None:
    resident = current_rss_mb()
    assert resident is not None and 10 < resident < 4096
    assert RecyclingWorker.max_rss_mb is None  # no ceiling unless `kassa worker` gives one
