"""Real worker processes SIGKILLed in the middle of payments: nothing is lost, nothing is charged twice."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.clock import FrozenClock
from core.config import Settings
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.ledger.models import Journal
from core.payments import jobs as payment_jobs
from core.payments.models import Payment, PaymentStatus
from core.payments.states import FINAL
from core.risk import service as risk
from tests.fixtures import Factories, skip_or_fail
from tests.payments_helpers import confirm, create_session

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PAYMENTS = 20
KILLS = 20


def _start_worker(settings: Settings, mode: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "KASSA_MASTER_KEY": settings.master_key,
        "KASSA_LOG_LEVEL": "ERROR",
        # Every authorization takes a while, so a kill lands in the middle of one.
        "KASSA_SANDBOX_LATENCY_MS": "150",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--queue", "payments"]
        + (["--in-process"] if mode == "in-process" else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the work horse too
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _statuses(rt: Runtime, tenant_id: str) -> dict[str, PaymentStatus]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return {p.id: p.status for p in uow.session.scalars(select(Payment))}


def _sweep_as_if_later(rt: Runtime) -> None:
    """Run the cron sweeper and relay as if a minute had passed, so lost jobs are re-queued now."""
    later = dataclasses.replace(rt, clock=FrozenClock(rt.clock.now() + timedelta(minutes=1)))
    runtime_module.install(later)
    try:
        payment_jobs.sweep_payments()
        later.relay()
    finally:
        runtime_module.install(rt)


@pytest.mark.parametrize("mode", ["fork", "in-process"])
def test_payments_survive_twenty_sigkilled_workers(
    client: FlaskClient, make: Factories, clean: Runtime, settings: Settings, mode: str
) -> None:
    if not settings.database_url.startswith("postgresql") or settings.uses_fake_redis:
        skip_or_fail("needs PostgreSQL and a real Redis shared by worker processes (bash .ci/run)")
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        # Velocity off: the test must not depend on test mode exempting the test cards from it.
        risk.update_settings(
            uow.session,
            tenant_id=tenant.id,
            changes={
                "max_attempts_per_card_hour": 0,
                "max_attempts_per_ip_hour": 0,
                "max_attempts_per_email_hour": 0,
            },
        )
    payment_ids = [confirm(clean, tenant, create_session(client, tenant)["id"]) for _ in range(PAYMENTS)]
    clean.relay()
    rng = random.Random(20)  # kill timing, not security

    killed_mid_payment = 0
    for _ in range(KILLS):
        before = _statuses(clean, tenant.id)
        worker = _start_worker(settings, mode)
        time.sleep(rng.uniform(0.9, 1.8))
        _kill(worker)
        after = _statuses(clean, tenant.id)
        killed_mid_payment += sum(1 for p in payment_ids if after[p] is PaymentStatus.PENDING)
        assert all(after[p] is before[p] or after[p] in FINAL for p in payment_ids)
        _sweep_as_if_later(clean)

    worker = _start_worker(settings, mode)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = _statuses(clean, tenant.id)
            if all(s in FINAL for s in statuses.values()):
                break
            _sweep_as_if_later(clean)
            time.sleep(0.5)
    finally:
        _kill(worker)

    statuses = _statuses(clean, tenant.id)
    assert killed_mid_payment > 0, "no kill landed while payments were pending"
    assert all(statuses[p] is PaymentStatus.SUCCEEDED for p in payment_ids), statuses
    sandbox = clean.processor(False)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        journals = dict(
            uow.session.execute(
                select(Journal.reference_id, func.count())
                .where(Journal.kind == "payment.capture")
                .group_by(Journal.reference_id)
            ).all()
        )
    for payment_id in payment_ids:
        assert sandbox.charges(payment_id) == 1, (
            f"{payment_id} was charged {sandbox.charges(payment_id)} times"
        )  # type: ignore[attr-defined]
        assert journals.get(payment_id) == 1, f"{payment_id} has {journals.get(payment_id)} capture journals"
