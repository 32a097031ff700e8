"""Many processes on one PostgreSQL and one Redis (issue 17, "Past one machine"), all real and started here.

The deployment of docs/scaling.md in small: two checkout web processes (`KASSA_SURFACES=checkout`), one
portal + API process (`KASSA_SURFACES=portal,api`), three workers (two on `payments`, one in each worker
mode; one on the other queues) and two `kassa cron` (one holds the schedule's lock, the other stands by).
Shoppers create sessions through the API and pay on the hosted page over real HTTP, the page from one
checkout process and the form posted to the other (no stickiness). Halfway through, the cron holding the
lock is SIGKILLed.

Every payment must succeed, charged once, with one capture journal; no response may be a 5xx; the ledger
balances. The cron's singleton lock (core/jobs/cronlock.py): each scheduled entry ran at most once per
period of its interval over the whole run (counted from RQ's registries: what the crons enqueued, done or
not), the standby took the lock over with a new fencing number, the relay moved to it, and it ran the
payments sweep in every period after the takeover.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from core.config import Settings
from core.jobs import catalogue, cronlock, outbox
from core.jobs.maintenance import prune_outbox
from core.jobs.outbox import SystemOutboxMessage
from core.jobs.queues import DEFAULT
from core.jobs.registry import spec_for
from core.jobs.runtime import Runtime
from core.ledger.models import Entry, Journal
from core.payments.jobs import sweep_payments
from core.payments.models import Payment, PaymentStatus
from tests.chaos.figures import record, size
from tests.factories import MadeTenant
from tests.fixtures import ROOT, Factories, skip_or_fail

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Payments driven through the fleet, and shoppers paying at once.
PAYMENTS = size(16, 300)
SHOPPERS = size(8, 12)
#: The cron scenario: seconds with both crons up, then with the survivor alone after the kill.
#: Seconds the fleet runs on after the load, for the standby cron's periods (the 15 s sweep's).
CRON_AFTER_LOAD = size(0, 50)
#: `kassa cron --lock-ttl` in these tests: how long a killed holder blocks the takeover.
LOCK_TTL = 2.0

CARD = {"method": "card", "number": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123", "name": "Ada"}
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    """Kassa processes started by one test, each in its own process group, stopped at the end."""

    settings: Settings
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        s = self.settings
        env = {
            **os.environ,
            "DATABASE_URL": s.database_url,
            "DATABASE_APP_URL": s.app_database_url,
            "DATABASE_DEFINER_ROLE": s.definer_role,
            "REDIS_URL": s.redis_url,
            "KASSA_SECRET_KEY": s.secret_key,
            "KASSA_MASTER_KEY": s.master_key,
            "KASSA_MAIL_URL": s.mail_url,
            "KASSA_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",  # the log files show what a process said before it was killed
            **extra,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def start(self, name: str, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", *args],
                cwd=ROOT,
                env=self.env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill takes gunicorn's or RQ's children too
            )
        self.processes[name] = process
        return process

    def serve(self, name: str, surfaces: str, base_url: str) -> str:
        port = _free_port()
        self.start(
            name,
            ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"],
            KASSA_SURFACES=surfaces,
            KASSA_BASE_URL=base_url,
        )
        return f"http://127.0.0.1:{port}"

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        # SIGKILL: nothing is checked after the test, and a graceful stop of eight processes costs seconds.
        for name in self.processes:
            with contextlib.suppress(ProcessLookupError):
                self.kill(name)

    def died(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def fleet(settings: Settings, clean: Runtime, tmp_path: Path) -> Iterator[Fleet]:
    if clean.settings.uses_fake_redis:
        skip_or_fail("needs a real Redis shared by the processes: set REDIS_URL (bash .ci/run does)")
    started = Fleet(settings=settings, logs=tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def _wait_until_serving(fleet: Fleet, urls: dict[str, str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    waiting = dict(urls)
    while waiting:
        for name, url in list(waiting.items()):
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    del waiting[name]
            except requests.RequestException:
                pass
        dead = fleet.died()
        assert not dead, f"{dead} exited early:\n{fleet.tail(dead[0])}"
        assert time.monotonic() < deadline, f"{sorted(waiting)} not serving after {timeout:.0f} s"
        time.sleep(0.2)


@dataclass
class Tally:
    """Every HTTP answer the shoppers got, by status."""

    statuses: Counter[int] = field(default_factory=Counter)

    def seen(self, response: requests.Response) -> requests.Response:
        self.statuses[response.status_code] += 1
        return response

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _shopper(
    n: int, tenant: MadeTenant, api: str, checkouts: list[str], tally: Tally, deadline: float
) -> tuple[str, str]:
    """One payment as a merchant's server and a browser without JavaScript make it: the session through
    the API, the page from one checkout process, the form posted to the other, the status page polled
    (on either) until it sends the shopper on. Returns (session id, payment id)."""
    http = requests.Session()
    created = tally.seen(
        http.post(
            f"{api}/api/v1/checkout/sessions",
            json={"amount": 1000 + n, "currency": "EUR", "reference": f"order-{n}"},
            headers={"Authorization": f"Bearer {tenant.keys.secret_key}"},
            timeout=30,
        )
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    page_from, post_to = checkouts[n % 2], checkouts[(n + 1) % 2]
    page = tally.seen(http.get(f"{page_from}/pay/{session_id}", timeout=30))
    assert page.status_code == 200, page.status_code
    token = TOKEN.search(page.text)
    assert token is not None, page.text[:500]
    posted = tally.seen(
        http.post(
            f"{post_to}/pay/{session_id}",
            data={"csrf_token": token.group(1), **CARD},
            allow_redirects=False,
            timeout=30,
        )
    )
    assert posted.status_code == 303, posted.status_code
    status_path = urlsplit(posted.headers["Location"]).path
    payment_id = status_path.rstrip("/").rsplit("/", 1)[-1]
    assert payment_id.startswith("pay_"), status_path
    poll = 0
    while time.monotonic() < deadline:
        status = tally.seen(
            http.get(f"{checkouts[poll % 2]}{status_path}", allow_redirects=False, timeout=30)
        )
        if status.status_code in (302, 303):
            break  # paid: on to the receipt (or the shop's success URL)
        assert status.status_code == 200, status.status_code
        poll += 1
        time.sleep(0.3)
    return session_id, payment_id


def _unbalanced_journals(rt: Runtime, tenant: MadeTenant) -> int:
    """Journals of the tenant whose entries do not sum to zero in a currency."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        unbalanced = (
            select(Entry.journal_id)
            .group_by(Entry.journal_id, Entry.currency)
            .having(func.sum(Entry.amount) != 0)
            .subquery()
        )
        return int(uow.session.scalar(select(func.count()).select_from(unbalanced)) or 0)


def _cron_runs(rt: Runtime) -> list[tuple[str, str | None, float]]:
    """(job name, tenant id, enqueued at) of every job the crons' schedule put on `default`: waiting,
    running, done or failed. The relay's jobs carry their outbox row's id (`obx_…`) and are left out."""
    queue = rt.queue(DEFAULT)
    ids = {
        *queue.get_job_ids(),
        *StartedJobRegistry(queue=queue).get_job_ids(),
        *FinishedJobRegistry(queue=queue).get_job_ids(),
        *FailedJobRegistry(queue=queue).get_job_ids(),
    }
    ours = sorted(i for i in ids if not i.startswith("obx_"))
    jobs = Job.fetch_many(ours, connection=rt.redis, serializer=JSONSerializer)
    return [
        (job.func_name, job.kwargs.get("tenant_id"), job.enqueued_at.timestamp())
        for job in jobs
        if job is not None and job.enqueued_at is not None
    ]


def _periods_touched(start: float, end: float, every: float) -> int:
    return int(end // every) - int(start // every) + 1


def _holder_pid(rt: Runtime) -> int | None:
    value = cronlock.holder(rt.redis)
    return None if value is None else int(value.split(":")[-2])


def _wait_for(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def _relayed_by_cron(rt: Runtime, timeout: float) -> float:
    """Seconds until a system job written to the outbox now reaches RQ. Nothing relays it on commit (no
    `on_commit`): only a cron's relay can."""
    with rt.db.unit_of_work() as uow:
        message_id = outbox.add(uow, prune_outbox, clock=rt.clock, tenant_id=None).id

    def relayed() -> bool:
        with rt.db.unit_of_work() as uow:
            row = uow.session.get(SystemOutboxMessage, message_id)
            return row is not None and row.delivered_at is not None

    return _wait_for(relayed, timeout, "a cron relaying the outbox")


def test_two_checkout_processes_one_portal_three_workers_and_two_crons_under_load(
    fleet: Fleet, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    entries = {spec_for(e.job).name: e for e in catalogue.cron_entries()}
    started = time.monotonic()
    api = fleet.serve("portal-api", "portal,api", base_url="http://127.0.0.1")
    checkouts = [fleet.serve(f"checkout-{i}", "checkout", base_url="http://127.0.0.1") for i in (1, 2)]
    # Both worker modes on the payments pool: jobs in the worker process, and a work horse forked per job.
    fleet.start("worker-payments-1", ["worker", "--queue", "payments", "--in-process"])
    fleet.start("worker-payments-2", ["worker", "--queue", "payments"])
    fleet.start("worker-other", ["worker", "--queue", "webhooks", "--queue", "payouts", "--queue", "default"])
    window_start = time.time()
    crons = {name: fleet.start(name, ["cron", "--lock-ttl", str(LOCK_TTL)]) for name in ("cron-a", "cron-b")}
    _wait_until_serving(fleet, {"portal-api": api, "checkout-1": checkouts[0], "checkout-2": checkouts[1]})
    # Both crons are in their loop, one holding the lock, the other waiting.
    _wait_for(lambda: all("running" in fleet.tail(name) for name in crons), 60, "both crons running")
    _wait_for(lambda: _holder_pid(clean) in {p.pid for p in crons.values()}, 30, "a cron holding the lock")
    booted = time.monotonic() - started

    # Each surface is served where it was asked for, and only there.
    assert requests.get(f"{checkouts[0]}/api/v1/payments", timeout=10).status_code == 404
    assert requests.get(f"{checkouts[1]}/portal/login", timeout=10).status_code == 404
    assert requests.get(f"{api}/pay/cs_unknown", timeout=10).status_code == 404
    assert requests.get(f"{api}/portal/login", timeout=10).status_code == 200

    tally = Tally()
    load_started = time.monotonic()
    deadline = load_started + 120 + PAYMENTS * 0.5
    watcher = ThreadPoolExecutor(max_workers=1)  # times the takeover while the shoppers go on
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        futures = [pool.submit(_shopper, n, tenant, api, checkouts, tally, deadline) for n in range(PAYMENTS)]
        # Halfway through the load, the cron holding the lock is SIGKILLed; the standby takes over.
        holder, fence_before, killed_at = "", 0, 0.0
        for done, _ in enumerate(as_completed(futures), start=1):
            if done == PAYMENTS // 2:
                holder = next(name for name, p in crons.items() if p.pid == _holder_pid(clean))
                fence_before = int(clean.redis.get(cronlock.FENCE_KEY) or 0)
                fleet.kill(holder)
                killed_at = time.time()
                standby = crons[next(name for name in crons if name != holder)].pid
                taking_over = watcher.submit(
                    _wait_for, lambda pid=standby: _holder_pid(clean) == pid, LOCK_TTL + 15, "the takeover"
                )
        paid = [future.result() for future in futures]
    load_seconds = time.monotonic() - load_started
    takeover_s = taking_over.result()
    watcher.shutdown()
    relay_s = _relayed_by_cron(clean, 15)
    time.sleep(CRON_AFTER_LOAD)  # full size: periods of the 15 s sweep after the takeover
    window_end = time.time()
    dead = [name for name in fleet.died() if name != holder]
    assert not dead, f"{dead} died:\n{fleet.tail(dead[0])}"

    payment_ids = [payment_id for _, payment_id in paid]
    answers = [
        tally.seen(
            requests.get(
                f"{api}/api/v1/payments/{payment_id}",
                headers={"Authorization": f"Bearer {tenant.keys.secret_key}"},
                timeout=30,
            )
        )
        for payment_id in payment_ids
    ]
    assert all(a.status_code == 200 for a in answers), Counter(a.status_code for a in answers)
    api_statuses = Counter(a.json()["status"] for a in answers)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = {row.id: row.status for row in uow.session.execute(select(Payment.id, Payment.status))}
        captures: dict[str, int] = {
            reference: count
            for reference, count in uow.session.execute(
                select(Journal.reference_id, func.count())
                .where(Journal.kind == "payment.capture")
                .group_by(Journal.reference_id)
            )
        }
    sandbox = clean.processor(False)
    charges = {p: sandbox.charges(p) for p in payment_ids}  # type: ignore[attr-defined]
    unfinished = sum(1 for p in payment_ids if stored.get(p) is not PaymentStatus.SUCCEEDED)
    double_charges = sum(1 for p in payment_ids if charges[p] > 1 or captures.get(p, 0) > 1)
    unbalanced = _unbalanced_journals(clean, tenant)
    record(
        "many processes (2 checkout, 1 portal+API, 3 workers, 2 crons)",
        zero=("unfinished", "double_charges", "http_5xx", "unbalanced_journals"),
        processes=len(fleet.processes),
        payments=PAYMENTS,
        shoppers=SHOPPERS,
        boot_s=round(booted, 1),
        load_s=round(load_seconds, 1),
        payments_per_s=round(PAYMENTS / load_seconds, 1),
        http_requests=sum(tally.statuses.values()),
        http_5xx=tally.server_errors,
        unfinished=unfinished,
        double_charges=double_charges,
        unbalanced_journals=unbalanced,
    )
    assert len(set(payment_ids)) == PAYMENTS
    assert tally.server_errors == 0, tally.statuses
    assert api_statuses == {"succeeded": PAYMENTS}, api_statuses
    assert unfinished == 0, {
        p: stored.get(p) for p in payment_ids if stored.get(p) is not PaymentStatus.SUCCEEDED
    }
    assert all(charges[p] == 1 for p in payment_ids), {p: n for p, n in charges.items() if n != 1}
    assert all(captures.get(p) == 1 for p in payment_ids), captures
    assert unbalanced == 0

    runs = _cron_runs(clean)
    by_entry: Counter[tuple[str, str | None]] = Counter((name, tenant_id) for name, tenant_id, _ in runs)
    over = {
        f"{name} {tenant_id or ''}".strip(): count
        for (name, tenant_id), count in by_entry.items()
        if name in entries and count > _periods_touched(window_start, window_end, entries[name].every_seconds)
    }
    sweep = spec_for(sweep_payments).name
    every = entries[sweep].every_seconds
    taken_over = killed_at + takeover_s
    sweeps_after = sum(1 for name, _, at in runs if name == sweep and at > taken_over)
    periods_after = int(window_end // every) - int(taken_over // every)
    record(
        "cron singleton (2 crons, holder SIGKILLed mid-load)",
        zero=("runs_over_once_per_period",),
        crons=2,
        window_s=round(window_end - window_start, 1),
        scheduled_runs=sum(c for (n, _), c in by_entry.items() if n in entries),
        runs_over_once_per_period=len(over),
        takeover_s=round(takeover_s, 1),
        relay_after_takeover_s=round(relay_s, 1),
        sweep_runs_after_takeover=sweeps_after,
    )
    assert not over, over
    for name, entry in entries.items():  # each entry ran in the window (per tenant where it is so)
        assert by_entry[(name, tenant.id if entry.per_tenant else None)] >= 1, (name, by_entry)
    assert int(clean.redis.get(cronlock.FENCE_KEY) or 0) > fence_before  # a new hold, a new fencing number
    assert sweeps_after >= periods_after, (sweeps_after, periods_after)
