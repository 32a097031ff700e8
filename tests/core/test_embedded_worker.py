"""The embedded worker (`make demo`'s and the browser tests' worker thread: core.jobs.worker.ThreadWorker
in one short burst after another) does not subscribe to RQ's command channel.

RQ's worker subscribes at the start of each `work()` and, at its end, waits up to a second for the
listener thread to stop; a race leaves that thread asleep on its 60 s read, so a burst now and then took
a second longer, and whatever was queued meanwhile (a webhook delivery, a payment) waited with it. The
fairness test (test_webhook_fairness.py) saw it as a 1.0-1.1 s delay; this one looks at the cause."""

from __future__ import annotations

import threading

from redis.client import PubSubWorkerThread
from rq import get_current_job
from rq.command import PUBSUB_CHANNEL_TEMPLATE

from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import job
from core.jobs.runtime import Runtime
from core.jobs.worker import ThreadWorker, make_worker

#: Redis key where `report_listeners` writes what it saw.
SEEN = "kassa-test:embedded-worker:listeners"


def _listener_threads() -> int:
    return sum(isinstance(thread, PubSubWorkerThread) for thread in threading.enumerate())


@job(queue=DEFAULT, retry_intervals=())
def report_listeners() -> int:
    """Writes how many clients listen on the running worker's command channel, and how many of this
    process's threads are Redis listener threads."""
    rt = runtime.current()
    current = get_current_job()
    assert current is not None and current.worker_name is not None
    ((_, subscribers),) = rt.redis.pubsub_numsub(PUBSUB_CHANNEL_TEMPLATE % current.worker_name)
    rt.redis.set(SEEN, f"{subscribers} {_listener_threads()}")
    return int(subscribers)


def test_a_burst_of_the_embedded_worker_runs_its_jobs_with_no_command_listener(clean: Runtime) -> None:
    before = _listener_threads()
    with clean.db.unit_of_work() as uow:
        clean.enqueue(uow, report_listeners, tenant_id=None)
    worker = make_worker(clean, [DEFAULT], worker_class=ThreadWorker)
    worker.work(burst=True)
    assert clean.redis.get(SEEN) == f"0 {before}".encode()  # nobody subscribed, no thread started
    assert clean.queue(DEFAULT).count == 0
