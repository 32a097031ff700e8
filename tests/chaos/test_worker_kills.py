"""Real worker processes SIGKILLed at random moments while shoppers keep paying: nothing is lost, nothing
is charged twice, the ledger balances."""

from __future__ import annotations

import random
import threading
import time

import pytest
from flask.testing import FlaskClient

from core.config import Settings
from core.jobs.runtime import Runtime
from core.payments.models import PaymentStatus
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

PAYMENTS = figures.size(40, 500)
KILLS = figures.size(8, 50)
POOL = 3
#: After the last kill: how long every payment has to reach a final state.
RECOVERY_WINDOW = 120.0


def test_payments_survive_workers_sigkilled_at_random_moments(
    client: FlaskClient, make: Factories, clean: Runtime, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql") or settings.uses_fake_redis:
        skip_or_fail("needs PostgreSQL and a real Redis shared by worker processes (bash .ci/run)")
    tenants = [make.tenants(), make.tenants(country="US", currency="USD")]
    for tenant in tenants:
        workers.velocity_off(clean, tenant.id)
    rng = random.Random(17)  # amounts and kill timing, not security
    sessions = []
    for i in range(PAYMENTS):
        tenant = tenants[i % 2]
        currency = tenant.tenant.default_currency
        sessions.append(
            (tenant, create_session(client, tenant, amount=rng.randint(100, 99_999), currency=currency))
        )
    tenant_ids = [t.id for t in tenants]
    payment_ids: list[str] = []
    # Every authorization takes a while, so a kill lands in the middle of one.
    slow = {"KASSA_SANDBOX_LATENCY_MS": "50"}

    # Shoppers keep confirming, spread over the kills, while the pool is killed and refilled.
    spread = KILLS * 0.6 / PAYMENTS

    # A US card payment asks for the billing postal code (locality rules).
    postal_codes = {tenants[0].id: "10115", tenants[1].id: "94103"}
    load_errors: list[BaseException] = []

    def shoppers() -> None:
        try:
            for tenant, session in sessions:
                payment_ids.append(confirm(clean, tenant, session["id"], postal_code=postal_codes[tenant.id]))
                time.sleep(spread)
        except BaseException as exc:  # reported by the test, not lost in the thread
            load_errors.append(exc)

    load = threading.Thread(target=shoppers, name="shoppers")
    pool = [workers.start_worker(settings, workers.MODES[i % 2], **slow) for i in range(POOL)]
    started = time.monotonic()
    kills_mid_job = 0
    try:
        workers.wait_ready(clean, pool)
        load.start()
        for kill in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.8))
            # Mostly a worker that is up; one still importing Kassa (seconds on a loaded machine) when
            # none is up by then: a kill may land at start-up too.
            ready: list[int] = []
            patience = time.monotonic() + 1.5
            while not ready and time.monotonic() < patience:
                ready = [i for i in range(POOL) if workers.is_ready(clean, pool[i])]
                time.sleep(0.05)
            # At a random moment, but one running a payment when there is one.
            busy = [i for i in ready if workers.current_job(clean, pool[i]) is not None]
            victim = rng.choice(busy or ready or list(range(POOL)))
            if busy:
                kills_mid_job += 1
            workers.kill(pool[victim])
            # Both modes are killed: the replacement runs the other one.
            pool[victim] = workers.start_worker(settings, workers.MODES[kill % 2], **slow)
        last_kill = time.monotonic()
        load.join(timeout=300)
        deadline = last_kill + RECOVERY_WINDOW
        while time.monotonic() < deadline:
            if all(s in FINAL for s in workers.statuses(clean, tenant_ids).values()):
                break
            if workers.idle(clean, pool):
                # What is still pending lost its job with a killed worker: the cron's sweeper finds it
                # (in production once it is STUCK_AFTER old; here at once).
                workers.sweep_as_if_later(clean, idle=0.0)
            time.sleep(0.5)
        recovered = time.monotonic() - last_kill
    finally:
        for process in pool:
            workers.kill(process)

    statuses = workers.statuses(clean, tenant_ids)
    journals = workers.capture_journals(clean, tenant_ids)
    unfinished = sum(1 for p in payment_ids if statuses[p] not in FINAL)
    scenario = figures.record(
        "worker SIGKILL",
        zero=("double_charges", "unfinished", "not_succeeded", "double_bookings", "ledger_unbalanced"),
        payments=len(payment_ids),
        kills=KILLS,
        kills_mid_job=kills_mid_job,
        double_charges=workers.double_charges(clean, payment_ids),
        unfinished=unfinished,
        not_succeeded=sum(1 for p in payment_ids if statuses[p] is not PaymentStatus.SUCCEEDED),
        double_bookings=sum(1 for p in payment_ids if journals.get(p) != 1),
        ledger_unbalanced=len(workers.ledger_imbalances(clean, tenant_ids)),
        recover_s=round(recovered, 1) if not unfinished else None,
        run_s=round(time.monotonic() - started, 1),
    )
    assert not load_errors, load_errors
    assert len(payment_ids) == PAYMENTS
    assert kills_mid_job > 0, "no kill landed while a worker was running a payment"
    assert scenario.ok, scenario.values
