"""Fair queueing: one tenant's endpoint that times out on every call does not delay another tenant's
deliveries (real workers in threads, real Redis, real clock)."""

from __future__ import annotations

import threading
import time

import pytest

from core.jobs.runtime import Runtime
from core.jobs.worker import run_worker_thread
from core.webhooks import service
from tests.fixtures import Factories
from tests.webhooks_helpers import Receiver, create_endpoint, ctx, receiver


def _send_test_events(rt: Runtime, tenant_id: str, endpoint_id: str, count: int) -> None:
    for _ in range(count):
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            service.send_test_event(uow.session, ctx(rt, uow), endpoint_id=endpoint_id)


def _latency(rt: Runtime, hook: Receiver, tenant_id: str, endpoint_id: str) -> float:
    """Seconds from queueing one delivery to its arrival at `hook`."""
    queued = time.monotonic()
    count = len(hook.received)
    _send_test_events(rt, tenant_id, endpoint_id, 1)
    while len(hook.received) == count and time.monotonic() - queued < 10:
        time.sleep(0.01)
    return hook.received[-1].at - queued


def test_a_dead_endpoint_does_not_delay_another_tenants_deliveries(
    clean: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = clean
    monkeypatch.setattr(
        rt,
        "settings",
        rt.settings.with_changes(
            webhooks_allow_private=True, webhook_timeout_seconds=4.0, webhook_endpoint_concurrency=1
        ),
    )
    slow_tenant, other_tenant = make.tenants(), make.tenants()
    stop = threading.Event()
    workers = [run_worker_thread(rt, stop, poll=0.05) for _ in range(2)]
    try:
        with receiver(delay=30) as dead, receiver() as alive:
            slow, _ = create_endpoint(rt, slow_tenant, dead.url)
            fine, _ = create_endpoint(rt, other_tenant, alive.url)
            # The same two workers' latency with no dead endpoint about (what the machine gives).
            baseline = sorted(_latency(rt, alive, other_tenant.id, fine.id) for _ in range(3))[1]
            _send_test_events(rt, slow_tenant.id, slow.id, 4)  # each would hold a worker for the timeout
            time.sleep(0.3)  # the first is in flight
            # Each sample is the quicker of two deliveries sent one after the other: a delivery held behind
            # the dead endpoint would make both wait (its 4 s timeout spans them), while a loaded machine's
            # one-off scheduling hiccup delays only one. (The 1.0-1.1 s delays this test saw before were
            # the worker's, not the machine's: RQ's one-second wait for a command listener at the end of
            # each burst, which the embedded worker no longer starts; tests/core/test_embedded_worker.py.)
            latencies = [
                min(_latency(rt, alive, other_tenant.id, fine.id) for _ in range(2)) for _ in range(6)
            ]
            assert len(dead.received) >= 1, "the dead endpoint was being called meanwhile"
            delays = [latency - baseline for latency in latencies]
            assert max(delays) < 1.0, (baseline, latencies)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
