"""gunicorn hooks for `kassa serve` (loaded with `--config python:cli.gunicorn_hooks`).

With `PROMETHEUS_MULTIPROC_DIR` set, every gunicorn worker writes its metrics into that directory and
`/metrics` adds them up; a worker that exits is marked dead so its live figures leave the sum
(docs/operations.md, "Metrics")."""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
