"""Real `kassa worker` processes for the fault scenarios: started, SIGKILLed, and what they left behind
(payment states, the sandbox's own count of charges, the ledger)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from rq import Worker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from core.clock import FrozenClock
from core.config import Settings
from core.jobs import runtime as runtime_module
from core.jobs.queues import PAYMENTS
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.ledger.models import Journal
from core.payments import jobs as payment_jobs
from core.payments.models import Payment, PaymentStatus
from core.processors.sandbox import SandboxProcessor
from core.risk import service as risk

#: The worker modes `kassa worker` offers: a forked work horse per job, or jobs in the worker process.
MODES = ("fork", "in-process")


def start_worker(settings: Settings, mode: str = "fork", **env: str) -> subprocess.Popen[bytes]:
    """A real `kassa worker --queue payments` process; `env` adds e.g. KASSA_SANDBOX_LATENCY_MS."""
    environ = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "KASSA_MASTER_KEY": settings.master_key,
        "KASSA_LOG_LEVEL": "ERROR",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--queue", "payments"]
        + (["--in-process"] if mode == "in-process" else ["--fork"]),
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, whatever the test runner does with signals
    )


def _registered(rt: Runtime, process: subprocess.Popen[bytes]) -> Worker | None:
    for worker in Worker.all(connection=rt.redis, serializer=JSONSerializer):
        if worker.pid == process.pid:
            return worker
    return None


def wait_ready(rt: Runtime, processes: Iterable[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    """Until every worker has registered with RQ (importing Kassa takes seconds on a loaded machine)."""
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    while waiting:
        waiting = [p for p in waiting if _registered(rt, p) is None]
        assert time.monotonic() < deadline, f"{len(waiting)} worker(s) did not start in {timeout:.0f} s"
        if waiting:
            time.sleep(0.1)


def is_ready(rt: Runtime, process: subprocess.Popen[bytes]) -> bool:
    return _registered(rt, process) is not None


def current_job(rt: Runtime, process: subprocess.Popen[bytes]) -> str | None:
    """The id of the job the worker process is running now, as it registered itself in Redis."""
    worker = _registered(rt, process)
    return worker.get_current_job_id() if worker is not None else None


def idle(rt: Runtime, processes: Iterable[subprocess.Popen[bytes]]) -> bool:
    """Nothing queued for the payments workers and none of them running a job."""
    return rt.queue(PAYMENTS).count == 0 and all(current_job(rt, p) is None for p in processes)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its work horse: no handler runs, no job is given back. RQ's forked horse
    puts itself in a process group of its own (os.setpgrp), so killing the worker's group alone would
    leave it running: the worker is stopped first (it cannot fork another), then the horse is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGSTOP)
    for horse in _children(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(horse, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def statuses(rt: Runtime, tenant_ids: Iterable[str]) -> dict[str, PaymentStatus]:
    found: dict[str, PaymentStatus] = {}
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            found |= {p.id: p.status for p in uow.session.scalars(select(Payment))}
    return found


def sweep_as_if_later(rt: Runtime, *, idle: float = 2.0) -> int:
    """Run the cron's sweeper as if `STUCK_AFTER` had passed: a pending payment untouched for `idle`
    seconds counts as one whose job was lost (in production: after STUCK_AFTER), so it is re-queued now
    (the sweeper's own commit relays what it queued). Delayed retries stay where they are: only the real
    clock's relay moves them. Returns how many the sweeper re-queued."""
    shift = payment_jobs.STUCK_AFTER - timedelta(seconds=idle)
    later = dataclasses.replace(rt, clock=FrozenClock(rt.clock.now() + shift))
    runtime_module.install(later)
    try:
        requeued = payment_jobs.sweep_payments()
    finally:
        runtime_module.install(rt)
    return requeued


def velocity_off(rt: Runtime, tenant_id: str) -> None:
    """The scenarios must not depend on test mode exempting the test cards from velocity limits."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        risk.update_settings(
            uow.session,
            tenant_id=tenant_id,
            changes={
                "max_attempts_per_card_hour": 0,
                "max_attempts_per_ip_hour": 0,
                "max_attempts_per_email_hour": 0,
            },
        )


def sandbox(rt: Runtime) -> SandboxProcessor:
    processor = rt.processor(False)
    assert isinstance(processor, SandboxProcessor)
    return processor


def double_charges(rt: Runtime, payment_ids: Iterable[str]) -> int:
    """Payments the sandbox acquirer, by its own records, authorized or captured more than once (the
    payment id is the authorization's idempotency key)."""
    acquirer = sandbox(rt)
    return sum(
        1
        for p in payment_ids
        if acquirer.operations("authorize", p) > 1 or acquirer.operations("capture", f"{p}:capture") > 1
    )


def capture_journals(rt: Runtime, tenant_ids: Iterable[str]) -> dict[str, int]:
    """Payment id -> how many capture journals the ledger holds for it."""
    counts: dict[str, int] = {}
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            counts |= dict(
                uow.session.execute(  # type: ignore[arg-type]
                    select(Journal.reference_id, func.count())
                    .where(Journal.kind == "payment.capture")
                    .group_by(Journal.reference_id)
                ).all()
            )
    return counts


def ledger_imbalances(rt: Runtime, tenant_ids: Iterable[str]) -> list[str]:
    """Every tenant's ledger problems (a currency or a journal that does not sum to zero)."""
    problems = []
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            problems += [f"{tenant_id}: {p}" for p in ledger.imbalances(uow.session, tenant_id=tenant_id)]
    return problems
