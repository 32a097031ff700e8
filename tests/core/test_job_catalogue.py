"""One declared list of job modules (core/jobs/catalogue.py) feeds the worker, `kassa cron`, the demo's
threads and the outbox: a job module left off it, or a cron entry declared outside it, fails here."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from core.jobs import catalogue
from core.jobs.registry import Cron, spec_for
from core.jobs.worker import SCHEDULE

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "tenants", "checkout", "portal", "cli")


def _decorated_jobs() -> dict[str, set[str]]:
    """Every `@job(...)`-decorated function in the source, by module."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and getattr(d.func, "id", None) == "job"
                    for d in node.decorator_list
                ):
                    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                    found.setdefault(module, set()).add(node.name)
    return found


def test_every_module_with_jobs_is_declared_and_declares_its_schedule() -> None:
    decorated = _decorated_jobs()
    assert {"core.receipts.jobs", "core.payments.jobs", "core.jobs.maintenance"} <= set(decorated)
    assert set(catalogue.JOB_MODULES) == set(decorated)
    for module in catalogue.load():
        assert isinstance(module.CRON, tuple) and all(isinstance(e, Cron) for e in module.CRON)


def test_a_fresh_process_loading_the_catalogue_knows_every_job() -> None:
    # What `kassa worker`, `kassa cron` and the demo load, in an interpreter that imported nothing else.
    code = (
        "import json; from core.jobs import catalogue, registry; catalogue.load(); "
        "print(json.dumps(sorted(registry.JOBS)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    expected = sorted(f"{m}.{f}" for m, funcs in _decorated_jobs().items() for f in funcs)
    assert json.loads(result.stdout) == expected
    assert "core.receipts.jobs.send_receipt" in expected and "core.receipts.jobs.sweep_receipts" in expected


def test_cron_runs_the_relay_and_exactly_the_declared_entries() -> None:
    declared = [entry for module in catalogue.load() for entry in module.CRON]
    assert [s.name for s in SCHEDULE] == ["outbox relay", *(e.name for e in declared)]
    assert {e.name: (e.every_seconds, spec_for(e.job).name) for e in declared}.items() >= {
        "re-queue stuck receipts": (60.0, "core.receipts.jobs.sweep_receipts"),
        "re-queue stuck payments, expire sessions": (15.0, "core.payments.jobs.sweep_payments"),
        "verify audit chains": (86400.0, "core.jobs.maintenance.verify_audit_chain"),
    }.items()
