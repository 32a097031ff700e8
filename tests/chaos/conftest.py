"""Prints every fault scenario's figures at the end of the run, and writes them as JSON for `make chaos`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.chaos import figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.RECORDED:
        return
    terminalreporter.section("fault scenarios (issue 17)" + (" — full sizes" if figures.FULL else ""))
    for scenario in figures.RECORDED:
        shown = ", ".join(f"{key}={value}" for key, value in scenario.values.items())
        verdict = "ok" if scenario.ok else "FAILED"
        terminalreporter.write_line(f"{verdict:6} {scenario.name}: {shown}")
    out = os.environ.get("KASSA_CHAOS_RESULTS")
    if out:
        rows: list[dict[str, Any]] = [
            {"scenario": s.name, "ok": s.ok, "must_be_zero": list(s.zero), **s.values}
            for s in figures.RECORDED
        ]
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"full": figures.FULL, "scenarios": rows}, indent=2) + "\n")
