"""The job RQ's baseline runs: importable by a plain `rq worker`, does nothing."""

from __future__ import annotations


def noop() -> None:
    """Nothing: what is left of a job's cost is RQ's own (dequeue, fork, bookkeeping in Redis)."""
    return None
