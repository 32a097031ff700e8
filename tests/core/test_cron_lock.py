"""The cron's singleton lock (core/jobs/cronlock.py) on the suite's Redis: one holder, fenced claims, at
most one run per period, takeover after expiry or release. tests/chaos/test_many_processes.py proves
the same with real `kassa cron` processes and a SIGKILL."""

from __future__ import annotations

import threading
import time

import pytest

from core.jobs import cronlock
from core.jobs.runtime import Runtime
from core.jobs.worker import Scheduled, run_cron

pytestmark = pytest.mark.redis


def test_one_holder_at_a_time_and_each_period_is_claimed_once(clean: Runtime) -> None:
    a = cronlock.CronLock(clean.redis, ttl=5, owner="host-a:1")
    b = cronlock.CronLock(clean.redis, ttl=5, owner="host-b:2")
    assert a.acquire_or_renew() and not b.acquire_or_renew()
    assert cronlock.holder(clean.redis) == f"host-a:1:{a.fence}"
    assert a.claim("sweep", 100, period_seconds=15)
    assert not a.claim("sweep", 100, period_seconds=15)  # that period ran
    assert not b.claim("sweep", 101, period_seconds=15)  # not the holder: claims nothing
    assert a.acquire_or_renew()  # renewed, still the same hold
    assert a.claim("sweep", 101, period_seconds=15)


def test_a_standby_takes_over_an_expired_lock_and_the_stale_holder_is_fenced_off(clean: Runtime) -> None:
    a = cronlock.CronLock(clean.redis, ttl=0.3, owner="host-a:1")
    b = cronlock.CronLock(clean.redis, ttl=5, owner="host-b:2")
    assert a.acquire_or_renew()
    assert a.claim("prune", 7, period_seconds=3600)
    time.sleep(0.5)  # a stalls past its expiry
    assert b.acquire_or_renew()
    assert b.fence > a.fence  # a new hold, a larger fencing number
    # a wakes up and still believes it holds the lock: its claim is refused, and it knows it lost it.
    assert not a.claim("prune", 8, period_seconds=3600)
    assert not a.held and not a.acquire_or_renew()
    assert not b.claim("prune", 7, period_seconds=3600)  # ran before the takeover: not again
    assert b.claim("prune", 8, period_seconds=3600)


def test_a_released_lock_is_taken_at_once_and_a_stale_release_keeps_the_successors(clean: Runtime) -> None:
    a = cronlock.CronLock(clean.redis, ttl=0.3, owner="host-a:1")
    b = cronlock.CronLock(clean.redis, ttl=5, owner="host-b:2")
    c = cronlock.CronLock(clean.redis, ttl=5, owner="host-c:3")
    assert a.acquire_or_renew()
    stale = a.token
    a.release()
    assert b.acquire_or_renew()
    time.sleep(0.4)
    a.token = stale  # a release by a holder whose hold is long gone
    a.release()
    assert cronlock.holder(clean.redis) == b.token and not c.acquire_or_renew()


def test_two_cron_loops_run_each_entry_once_per_period(clean: Runtime) -> None:
    runs: list[tuple[str, float]] = []

    def entry(name: str) -> Scheduled:
        return Scheduled(name, 0.5, lambda rt: runs.append((threading.current_thread().name, time.time())))

    stop = threading.Event()
    start = time.time()
    loops = [
        threading.Thread(
            target=run_cron, args=(clean, stop), kwargs={"schedule": [entry("tick")], "tick": 0.05}, name=name
        )
        for name in ("cron-1", "cron-2")
    ]
    for loop in loops:
        loop.start()
    time.sleep(2.2)
    stop.set()
    for loop in loops:
        loop.join(timeout=5)
    end = time.time()
    touched = int(end // 0.5) - int(start // 0.5) + 1
    assert len(runs) <= touched, runs  # at most once per period (two loops without the lock: twice)
    assert len(runs) >= touched - 2, runs  # and every period ran, but the edges of the window
    assert len({name for name, _ in runs}) == 1  # by the one holder
    assert cronlock.holder(clean.redis) is None  # both stopped: the holder gave the lock up
