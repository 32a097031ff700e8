"""A slow, flaky processor (the sandbox's fault injection) and one that hangs: retries back off, no
payment is authorized twice, and a payment stuck at the processor is resolved by the sweeper."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.config import Settings
from core.jobs.runtime import Runtime
from core.payments.models import Payment, PaymentStatus, PaymentStatusChange
from core.payments.service import RETRY_DELAYS
from core.payments.states import FINAL
from tests.chaos import figures, workers
from tests.fixtures import Factories, skip_or_fail
from tests.payments_helpers import confirm, create_session

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # The full size takes minutes on a loaded 2-core machine: past the suite's 300 s per test.
    pytest.mark.timeout(figures.size(300, 1200)),
]

PAYMENTS = figures.size(20, 300)
#: Payments whose worker dies while the processor hangs on their authorization.
STUCK = figures.size(1, 5)
#: How long the hanging processor takes to answer: longer than the test waits for its workers.
HANG_MS = "90000"
#: Slow answers, timeouts and 503s. (Not seeded: KASSA_SANDBOX_SEED gives every call of a process the
#: same first roll, as each call gets a fresh sandbox.)
FLAKY = {
    "KASSA_SANDBOX_LATENCY_MS": "200",
    "KASSA_SANDBOX_TIMEOUT_RATE": "0.07",
    "KASSA_SANDBOX_FAULT_RATE": "0.03",
}
#: At first the processor times out on every call, until this many retries are scheduled.
OUTAGE_RETRIES = 3
#: Long enough for a payment unlucky three times in a row (1 + 5 + 30 s of back-off), four at full size.
RECOVERY_WINDOW = sum(RETRY_DELAYS[: figures.size(3, 4)]) + 30.0


def _retries(rt: Runtime, tenant_id: str) -> int:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return sum(uow.session.scalars(select(Payment.processor_attempts)))


def _history(rt: Runtime, tenant_id: str) -> tuple[dict[str, Payment], dict[str, dict[str, datetime]]]:
    """Each payment, and when it entered each state."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        payments = {p.id: p for p in uow.session.scalars(select(Payment))}
        entered: dict[str, dict[str, datetime]] = {}
        for change in uow.session.scalars(select(PaymentStatusChange)):
            entered.setdefault(change.payment_id, {}).setdefault(str(change.status), change.created_at)
        uow.session.expunge_all()
    return payments, entered


def test_processor_timeouts_back_off_never_charge_twice_and_stuck_payments_are_swept(
    client: FlaskClient, make: Factories, clean: Runtime, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql") or settings.uses_fake_redis:
        skip_or_fail("needs PostgreSQL and a real Redis shared by worker processes (bash .ci/run)")
    tenant = make.tenants()
    workers.velocity_off(clean, tenant.id)
    sessions = [create_session(client, tenant, amount=1000 + i)["id"] for i in range(STUCK + PAYMENTS)]
    started = time.monotonic()

    # The processor hangs (90 s per call); the workers die while they wait for its answer, one payment
    # each, so the payments have no job left anywhere.
    stuck: list[str] = []
    while len(stuck) < STUCK:
        modes = workers.MODES[: STUCK - len(stuck)]  # both modes, one payment each
        hung = [workers.start_worker(settings, m, KASSA_SANDBOX_LATENCY_MS=HANG_MS) for m in modes]
        try:
            workers.wait_ready(clean, hung)
            batch = sessions[len(stuck) : min(STUCK, len(stuck) + len(hung))]
            stuck += [confirm(clean, tenant, session_id) for session_id in batch]
            deadline = time.monotonic() + 30
            while sum(workers.current_job(clean, p) is not None for p in hung) < len(batch):
                assert time.monotonic() < deadline, "the hung workers did not take the payments"
                time.sleep(0.05)
        finally:
            for process in hung:
                workers.kill(process)
    hung_statuses = workers.statuses(clean, [tenant.id])
    assert all(s is PaymentStatus.PENDING for s in hung_statuses.values()), hung_statuses

    # Shoppers pay while the processor is out (every call times out on one worker), then slow and flaky;
    # the test is the cron (relay, sweeper).
    pool = [workers.start_worker(settings, mode, **FLAKY) for mode in workers.MODES]
    outage = workers.start_worker(settings, "in-process", KASSA_SANDBOX_TIMEOUT_RATE="1")
    swept = 0
    try:
        workers.wait_ready(clean, [*pool, outage])
        payment_ids = [confirm(clean, tenant, session_id) for session_id in sessions[STUCK:]]
        deadline = time.monotonic() + RECOVERY_WINDOW
        while time.monotonic() < deadline:
            if all(s in FINAL for s in workers.statuses(clean, [tenant.id]).values()):
                break
            if outage.poll() is None and _retries(clean, tenant.id) >= OUTAGE_RETRIES:
                workers.kill(outage)  # the outage is over
            clean.relay()  # delayed retries, as they fall due
            if outage.poll() is not None and workers.idle(clean, pool):
                swept += workers.sweep_as_if_later(clean, idle=0.0)
            time.sleep(0.25)
    finally:
        for process in [*pool, outage]:
            if process.poll() is None:
                workers.kill(process)

    payments, entered = _history(clean, tenant.id)
    acquirer = workers.sandbox(clean)
    everyone = stuck + payment_ids
    too_early = [
        p
        for p in everyone
        if payments[p].status is PaymentStatus.SUCCEEDED
        and (entered[p]["succeeded"] - entered[p]["pending"]).total_seconds()
        < sum(RETRY_DELAYS[: payments[p].processor_attempts]) - 0.05
    ]
    scenario = figures.record(
        "processor timeouts and slow responses",
        zero=("duplicate_authorizations", "unresolved", "stuck_unresolved", "backoff_violations"),
        payments=len(everyone),
        stuck=len(stuck),
        retries_seen=sum(payments[p].processor_attempts for p in everyone),
        duplicate_authorizations=sum(1 for p in everyone if acquirer.operations("authorize", p) > 1),
        unresolved=sum(1 for p in everyone if payments[p].status not in FINAL),
        stuck_unresolved=sum(1 for p in stuck if payments[p].status not in FINAL),
        swept=swept,
        failed=sum(1 for p in everyone if payments[p].status is PaymentStatus.FAILED),
        backoff_violations=len(too_early),
        run_s=round(time.monotonic() - started, 1),
    )
    assert scenario.ok, scenario.values
    assert scenario.values["retries_seen"] > 0, "the flaky processor never failed a call"
    assert swept >= STUCK, "the sweeper did not re-queue the stuck payments"
    succeeded = [p for p in everyone if payments[p].status is PaymentStatus.SUCCEEDED]
    assert all(acquirer.operations("authorize", p) == 1 for p in succeeded)
