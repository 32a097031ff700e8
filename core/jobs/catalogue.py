"""The one declared list of job modules. `kassa worker`, `kassa cron`, the embedded demo (worker and cron
threads) and the outbox all load exactly these, so each process knows every job and every cron entry.

Each module registers its jobs with `@job` (registry.py) and declares its schedule as `CRON`, a tuple of
`Cron` (defined here, re-exported by registry.py, which loads this list). A new job module is added here,
and nowhere else. The modules are named, not imported: the features' job modules import `core.jobs`, not
the other way round.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Cron:
    """An entry of `kassa cron`, declared by the job module it runs (its `CRON` tuple): enqueue `job`
    every `every_seconds`, once per tenant (`tenant_id=` its id) with `per_tenant`."""

    name: str
    every_seconds: float
    job: Callable[..., Any]
    per_tenant: bool = False


#: Every module that declares jobs, in the order `kassa cron` lists their entries.
JOB_MODULES: tuple[str, ...] = (
    "core.jobs.maintenance",
    "core.payments.jobs",
    "core.receipts.jobs",
    "core.payouts.jobs",
    "core.disputes.jobs",
    "core.webhooks.jobs",
    "core.notifications.jobs",
    "core.reports.jobs",
    "tenants.jobs",
    # Team invitations and four-eyes approvals: emails and the expiry sweep (named, so core imports nothing
    # of tenants).
    "tenants.notifications",
    # Scheduled report exports: the due files and their emailed links (whom to send to is the team's).
    "tenants.report_exports",
)


def load() -> tuple[ModuleType, ...]:
    """Import every job module (registering its jobs); cheap once they are imported."""
    return tuple(importlib.import_module(name) for name in JOB_MODULES)


def cron_entries() -> tuple[Cron, ...]:
    """Every module's declared `CRON` entries, in `JOB_MODULES` order."""
    entries: list[Cron] = []
    for module in load():
        declared: tuple[Cron, ...] = module.CRON  # every job module declares one, even if empty
        entries.extend(declared)
    return tuple(entries)
