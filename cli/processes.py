"""The long-running processes: `kassa worker`, `kassa cron`, `kassa serve` and `kassa demo`."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime

#: The project's root: gunicorn runs there (`--chdir`) to import `wsgi`.
ROOT = Path(__file__).resolve().parent.parent


@click.command("worker", help="Run an RQ worker on the app's Redis (all queues unless --queue is given).")
@click.option("--queue", "queues", multiple=True, help="payments, webhooks, payouts, default (repeatable).")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option(
    "--in-process/--fork",
    "in_process",
    default=True,
    show_default=True,
    help="Run each job in this process (RQ's SimpleWorker; the default: measured at 2.4 times the payment "
    "rate of forked workers, bench/README.md) or fork a work horse per job (--fork: a job that crashes "
    "the interpreter takes only its horse). Either way a killed worker loses nothing: the sweeper "
    "re-queues its payment. Run in-process workers under a supervisor that restarts them.",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Exit after this many jobs, for a supervisor to start a fresh process.",
)
@click.option(
    "--max-memory",
    "max_memory_mb",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="In-process workers: exit after a job that leaves the process above this many MB resident, for "
    "a supervisor to start a fresh one (a worker settles at about 140 MB).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve Prometheus /metrics on this port (127.0.0.1 unless --metrics-host). A forking worker counts "
    "its jobs in the work horses: set PROMETHEUS_MULTIPROC_DIR (docs/operations.md, 'Metrics').",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
@with_appcontext
def worker_command(
    queues: tuple[str, ...],
    burst: bool,
    in_process: bool,
    max_jobs: int | None,
    max_memory_mb: int,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    from rq import Worker

    from core.jobs import catalogue
    from core.jobs.queues import QUEUE_NAMES
    from core.jobs.worker import RecyclingWorker, run_worker

    rt = runtime()
    unknown = set(queues) - set(QUEUE_NAMES)
    if unknown:
        fail(f"Unknown queue(s): {', '.join(sorted(unknown))}. Queues are {', '.join(QUEUE_NAMES)}.")
    if rt.settings.uses_fake_redis:
        fail(
            "REDIS_URL is not set: a separate worker needs a real Redis "
            "(the demo runs its own worker thread)."
        )
    catalogue.load()
    if metrics_port is not None:
        from core import metrics
        from core.jobs.metrics import RuntimeCollector

        server = metrics.serve(metrics_port, lambda: [RuntimeCollector(rt)], addr=metrics_host)
        port = server.server_address[1]  # type: ignore[attr-defined]
        click.echo(f"kassa worker: metrics on http://{metrics_host}:{port}/metrics")
    # RQ's scheduler (run_worker starts it: a process of one worker at a time, by Redis lock) moves a failed
    # job's retry from the scheduled registry back to its queue when the back-off is over.
    run_worker(
        rt,
        queues or QUEUE_NAMES,
        worker_class=RecyclingWorker if in_process else Worker,
        burst=burst,
        max_jobs=max_jobs,
        logging_level=rt.settings.log_level,
        max_rss_mb=max_memory_mb,
    )


@click.command(
    "cron",
    help="Run the scheduler: outbox relay every second, housekeeping jobs on schedule. One cron at a time "
    "runs it (a Redis lock); start a second one as a standby, it takes over when the first goes.",
)
@click.option(
    "--lock-ttl",
    type=click.FloatRange(min=1.0, max=600.0),
    default=10.0,
    show_default=True,
    help="Seconds the schedule's lock outlives a holder that stopped renewing it (was killed): how long "
    "a standby cron waits before it takes over.",
)
@with_appcontext
def cron_command(lock_ttl: float) -> None:
    from core.jobs import catalogue
    from core.jobs.worker import run_cron

    rt = runtime()
    if rt.settings.uses_fake_redis:
        fail("REDIS_URL is not set: cron would relay jobs into an in-process Redis no worker reads.")
    catalogue.load()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("kassa cron: running (Ctrl-C to stop)")
    try:
        run_cron(rt, stop, lock_ttl=lock_ttl)
    except KeyboardInterrupt:
        stop.set()


@click.command("serve", help="Serve the app with gunicorn (KASSA_SURFACES picks the surfaces).")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve_command(bind: str, workers: int, threads: int) -> None:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    args = [
        gunicorn,
        "wsgi:create_app()",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--chdir",
        str(ROOT),
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--config",
        "python:cli.gunicorn_hooks",  # metrics of exited workers (PROMETHEUS_MULTIPROC_DIR)
    ]
    os.execv(gunicorn, args)  # noqa: S606  (replaces this process with gunicorn, arguments built above)


@click.command(
    "demo", help="Everything in one process: SQLite, in-process Redis, a worker thread, a demo tenant."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--shop-port", default=5001, show_default=True, type=int, help="Port of the demo shop with the widget."
)
@with_appcontext
def demo_command(host: str, port: int, shop_port: int) -> None:
    from demo import run_demo

    run_demo(runtime(), host=host, port=port, shop_port=shop_port)
