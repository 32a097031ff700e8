"""Resident memory readings (core/memory.py): the peak of this process, the current RSS of a pid."""

from __future__ import annotations

import os
import subprocess
import sys

from core.memory import children_current_rss_mb, current_rss_mb, peak_rss_mb, reset_peak_rss


def test_this_process_reads_the_same_by_pid_and_its_peak_is_not_below_it() -> None:
    now = current_rss_mb()
    assert now is not None and 10 < now < 4096
    by_pid = current_rss_mb(os.getpid())
    assert by_pid is not None and abs(by_pid - now) < 64
    reset_peak_rss()
    assert peak_rss_mb() >= now - 64  # the peak since the reset starts at the RSS of the reset


def test_a_child_is_read_among_its_parents_children_and_a_gone_process_reads_none() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert current_rss_mb(child.pid) is not None  # how much depends on how far its start has gone
        assert len(children_current_rss_mb(os.getpid())) >= 1
    finally:
        child.kill()
        child.wait()
    assert current_rss_mb(child.pid) is None
