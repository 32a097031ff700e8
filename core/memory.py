"""Resident memory (RSS) of processes, in MB, read from Linux's /proc.

Two kinds of reading, kept apart by name: the *peak* of this process (what a benchmark reports about a
run it made in process) and the *current* RSS of a process by pid (what the recycling worker checks after
each job, and what a benchmark reads of the servers and workers it started). Where /proc is not there
the current readings are None or empty and the peak falls back to `getrusage`.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path


def _status(path: Path) -> dict[str, str] | None:
    """The fields of a /proc/<pid>/status file, or None if it cannot be read (the process is gone)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _mb(field: str) -> float:
    """A status field in kB ("  123456 kB") in MB."""
    return int(field.split()[0]) / 1024


def current_rss_mb(pid: int | None = None) -> float | None:
    """The resident memory now of process `pid` (this process if None); None if it cannot be read."""
    fields = _status(Path(f"/proc/{'self' if pid is None else pid}/status"))
    if fields is None or "VmRSS" not in fields:
        return None
    return _mb(fields["VmRSS"])


def children_current_rss_mb(parent_pid: int) -> list[float]:
    """The resident memory now of each child of `parent_pid` (gunicorn's workers, say)."""
    sizes = []
    for path in Path("/proc").glob("[0-9]*/status"):
        fields = _status(path)
        if fields and int(fields.get("PPid", "0").strip()) == parent_pid and "VmRSS" in fields:
            sizes.append(_mb(fields["VmRSS"]))
    return sizes


def peak_rss_mb() -> float:
    """This process's peak resident memory since `reset_peak_rss` (VmHWM), else since it started."""
    fields = _status(Path("/proc/self/status"))
    if fields and "VmHWM" in fields:
        return _mb(fields["VmHWM"])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Forget this process's peak so far: Linux resets VmHWM to the current RSS when 5 is written to
    clear_refs (elsewhere, or without the permission, the peak stays the one since the start)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
