"""Webhook delivery throughput: signed deliveries per second to a local receiver, beside the RQ no-op job
rate of the same workers.

Both phases run the same number of worker threads (`ThreadWorker`, the embedded demo's worker class) in
this process, on PostgreSQL and Redis: first `--jobs` no-op jobs on the `webhooks` queue (RQ's own cost),
then `--jobs` "Send test event" deliveries to a receiver on 127.0.0.1 answering 200 at once (each: the
fan-out row, the SSRF check, the signature, the POST, the attempt row and the status). The ratio is what a
delivery costs beyond a bare job.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/kassa_bench \\
        REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python -m bench webhooks --jobs 200
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime

import click
from rq.serializers import JSONSerializer

from bench.payments import create_bench_tenant
from core.config import Settings
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.jobs.queues import WEBHOOKS
from core.jobs.worker import ThreadWorker
from core.migrate import upgrade
from core.webhooks import service
from tests.webhooks_helpers import receiver


def _drain(rt: runtime_module.Runtime, workers: int, done: object, total: int, timeout: float) -> float:
    started = time.monotonic()
    stop = threading.Event()

    def loop() -> None:
        worker = ThreadWorker([rt.queue(WEBHOOKS)], connection=rt.redis, serializer=JSONSerializer)
        while not stop.is_set():
            worker.work(burst=True, logging_level="WARNING")
            stop.wait(0.01)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    while done() < total and time.monotonic() - started < timeout:  # type: ignore[operator]
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(10)
    return elapsed


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--jobs", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def command(jobs: int, workers: int, as_json: bool) -> None:
    settings = Settings.from_env().with_changes(webhooks_allow_private=True, log_level="WARNING")
    upgrade(settings)
    rt = runtime_module.configure(settings)
    queue = rt.queue(WEBHOOKS)
    queue.empty()
    for _ in range(jobs):
        queue.enqueue_call(func="bench.noop.noop", result_ttl=60)

    def noop_done() -> int:
        return int(queue.count == 0 and queue.started_job_registry.count == 0)

    noop_seconds = _drain(rt, workers, noop_done, 1, 300)
    stamp = datetime.now(UTC).strftime("%H%M%S")
    tenant_id, _ = create_bench_tenant(rt, name=f"Webhooks bench {stamp}", slug_suffix=f"wh-{stamp}")
    with receiver() as hook:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            endpoint, _ = service.create_endpoint(
                uow.session,
                rt.context(uow, Actor.system("bench")),
                tenant_id=tenant_id,
                livemode=False,
                url=hook.url,
                events=["payment.succeeded"],
                policy=service.Policy(allow_private=True),
            )
        # Queued with the workers stopped, so the phase times delivery alone.
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            ctx = rt.context(uow, Actor.system("bench"))
            for _ in range(jobs):
                service.send_test_event(uow.session, ctx, endpoint_id=endpoint.id)
        delivery_seconds = _drain(rt, workers, lambda: len(hook.received), jobs, 600)
        delivered = len(hook.received)
    figures = {
        "workers": workers,
        "jobs": jobs,
        "rq_noop_per_second": round(jobs / noop_seconds, 1),
        "deliveries_per_second": round(delivered / delivery_seconds, 1),
        "delivered": delivered,
        "ratio": round((delivered / delivery_seconds) / (jobs / noop_seconds), 3),
        "load_average": os.getloadavg()[0],
    }
    if as_json:
        click.echo(json.dumps(figures))
    else:
        click.echo(
            f"webhook deliveries: {figures['deliveries_per_second']}/s ({delivered} of {jobs}, "
            f"{workers} worker threads) beside RQ no-op {figures['rq_noop_per_second']}/s: "
            f"ratio {figures['ratio']}"
        )
    rt.db.dispose()
