"""Prometheus metrics of this process: what the code counts as it goes, and the exposition.

Counted where it happens: request latency by route (core/web/observe.py), payments by outcome
(core/payments/jobs.py), job runs and failures (core/jobs/registry.py), webhook delivery outcomes
(core/webhooks/jobs.py). Read at scrape time (core/jobs/metrics.py): queue depth and age, failed jobs per
queue, outbox lag.

Several processes (gunicorn workers, RQ's forked work horses): set `PROMETHEUS_MULTIPROC_DIR` to an empty
directory the processes share, before they start; each process writes its figures there and every scrape
adds them up (prometheus_client's multiprocess mode; docs/operations.md, "Metrics").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REQUEST_SECONDS: Final = Histogram(
    "kassa_http_request_duration_seconds",
    "Request latency by route (the URL rule, not the path), method and status code.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PAYMENTS: Final = Counter(
    "kassa_payments",
    "Payments processed by the payments worker, by outcome (the status it left).",
    ["outcome"],
)
JOBS: Final = Counter("kassa_jobs", "Job runs, by job and result (ok, failed).", ["job", "queue", "result"])
JOB_FAILURES: Final = Counter("kassa_job_failures", "Job runs that raised, by job.", ["job", "queue"])
JOB_SECONDS: Final = Histogram(
    "kassa_job_duration_seconds",
    "Job run time, by job.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
WEBHOOK_DELIVERIES: Final = Counter(
    "kassa_webhook_deliveries",
    "Webhook delivery attempts, by outcome (the delivery's status after it).",
    ["outcome"],
)

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Forward(Collector):
    """The process's own registry, inside a per-scrape one."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry for one scrape: this process's figures (or, in multiprocess mode, every process's), and
    the `extra` collectors that read their figures at scrape time."""
    scrape = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape, path=directory)  # type: ignore[no-untyped-call]
    else:
        scrape.register(_Forward())
    for collector in extra:
        scrape.register(collector)
    return scrape


def render(extra: Iterable[Collector] = ()) -> bytes:
    return generate_latest(registry(extra))


def serve(port: int, extra: Callable[[], Iterable[Collector]], *, addr: str = "127.0.0.1") -> object:
    """A metrics listener on its own port (a worker's `--metrics-port`): a daemon thread answering GET with
    the exposition. Returns the server (its `server_address` has the port, for port 0)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self.send_error(404, "only /metrics here")
                return
            body = render(extra())
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="kassa-metrics", daemon=True).start()
    return server
