"""Redis and PostgreSQL restarted in the middle of load (issue 17): real servers the test starts itself.

Each scenario runs Kassa as it runs in production, as separate processes: `kassa serve` (gunicorn), two
`kassa worker` processes and `kassa cron` (the outbox relay and the sweeper), on a Redis server of the
test's own and a PostgreSQL cluster of its own (tests/postgres_cluster.py), migrated by a plain owner role
while the application connects as the application role (the module's scenarios share them). Shoppers
are threads speaking real HTTP: create a checkout session over the API, open the hosted page, pay with a
card. Once a third of the payments are accepted, Redis or PostgreSQL goes away for a few seconds and
comes back; nobody restarts Kassa.

What must hold, and is recorded as the scenario's figures: no 5xx but 503, every 503 carries
`Retry-After`, no accepted payment is lost, none is unfinished once the recovery window is over; and how
many seconds after the restart the last accepted payment was final (the backlog the outage left included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from core.jobs.runtime import Runtime
from core.payments.states import FINAL
from core.web.errors import is_unavailable
from tests.chaos import figures
from tests.fixtures import ROOT, Factories, skip_or_fail
from tests.postgres_cluster import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Payments the shoppers make in one scenario, and how many shop at once.
PAYMENTS = figures.size(12, 200)
SHOPPERS = figures.size(4, 8)
#: Seconds the server stays down.
OUTAGE = figures.size(3, 10)
#: Seconds after the last shopper is done within which every accepted payment must be final (the workers
#: work off the backlog the outage left; a job lost with Redis waits for the sweeper: payments pending 30 s,
#: swept every 15 s).
RECOVERY = float(figures.size(90, 240))
#: A shopper gives up on one step after this long (the outage is much shorter; an idempotency key's claim
#: left behind by the outage is taken over after 60 s).
PATIENCE = 90.0
FINAL_STATUSES = {str(s) for s in FINAL}
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class RedisServer:
    """`redis-server` on a free port of the test's own; `restart` stops it and starts it again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server not found (Debian: redis-server)")
        self.binary = str(binary)
        self.dir = Path(tempfile.mkdtemp(prefix="kassa-redis-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def start(self) -> None:
        # No save points: what survives a restart is what `stop(keep_data=True)` dumps on the way down.
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"),
                *("no", "--dir", str(self.dir), "--logfile", str(self.dir / "log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(self._ping, timeout=10, what="redis-server")

    def stop(self, *, keep_data: bool) -> None:
        """`keep_data`: an orderly restart (SHUTDOWN SAVE, as a service manager's restart does). Otherwise
        SIGKILL without persistence: Redis comes back empty, with every queued job and stashed CVC gone."""
        assert self.process is not None
        if keep_data:
            with socket.create_connection(("127.0.0.1", self.port), 2) as s:
                s.sendall(b"SHUTDOWN SAVE\r\n")
        else:
            self.process.kill()
        self.process.wait(timeout=30)
        self.process = None

    def remove(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Kassa:
    """Kassa's processes: `kassa serve` (gunicorn), workers and cron, started with `env`."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "KASSA_BASE_URL": self.base_url,
            "KASSA_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("KASSA_SURFACES", "DATABASE_POOLER", "ANALYTICS_DATABASE_URL"):
            self.env.pop(name, None)
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "kassa"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"kassa {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it takes gunicorn's or RQ's children
        )
        log.close()

    def start(self, *, workers: int = 2) -> None:
        self._spawn(
            "web", [str(BIN / "kassa"), "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"]
        )
        for number in range(workers):
            self._spawn(f"worker-{number}", [sys.executable, "-m", "flask", "--app", "wsgi", "worker"])
        self._spawn("cron", [str(BIN / "kassa"), "cron"])

        def up() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
            return False

        _wait_until(up, timeout=60, what="kassa serve to answer /readyz")

    def alive(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is None]

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)


@dataclass
class Answers:
    """What the shoppers were answered, all of them together."""

    statuses: Counter[int] = field(default_factory=Counter)
    #: (method, path, status) of every 5xx that is not a 503, and of every 503 without Retry-After.
    bad: list[tuple[str, str, int]] = field(default_factory=list)
    unavailable_without_retry_after: int = 0
    transport_errors: int = 0
    #: The first few transport errors (a timeout, a reset connection), for the failure message.
    transport_seen: list[str] = field(default_factory=list)
    #: Checkout session id -> payment id, for every payment the hosted page accepted (303 to its status).
    accepted: dict[str, str] = field(default_factory=dict)
    #: time.monotonic() of each acceptance, to see when Pay worked again after the restart.
    accepted_at: list[float] = field(default_factory=list)
    gave_up: int = 0
    #: The first 503 of each path: its content type and body (JSON under /api, an HTML page elsewhere).
    unavailable: dict[str, httpx.Response] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, method: str, path: str, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.bad.append((method, path, response.status_code))
            if response.status_code == 503:
                self.unavailable.setdefault(path, response)
            if response.status_code == 503 and not response.headers.get("Retry-After", "").isdigit():
                self.unavailable_without_retry_after += 1
                self.bad.append((method, path, 503))

    @property
    def other_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_STATUS_URL = re.compile(r"/pay/(cs_[A-Za-z0-9]+)/payments/(pay_[A-Za-z0-9]+)")
CARD = {"method": "card", "number": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123", "name": "Ada"}


def _code(response: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["error"]["code"])
    return None


def _until_answered(
    answers: Answers, send: Callable[[], httpx.Response], method: str, path: str
) -> httpx.Response | None:
    """Send until the answer is not a 503 (waiting as Retry-After says, at most a second: the outage is
    short), or give up after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            response = send()
        except httpx.TransportError as exc:
            with answers.lock:
                answers.transport_errors += 1
                if len(answers.transport_seen) < 5:
                    answers.transport_seen.append(f"{method} {path}: {exc!r}")
            time.sleep(0.5)
            continue
        answers.note(method, path, response)
        if response.status_code == 409 and _code(response) == "idempotency_key_in_use":
            # The first try's claim of the key outlived its request (the database went away before the
            # 503 could release it): a client tries again a moment later (docs/api.md, "Idempotency keys").
            time.sleep(1.0)
            continue
        if response.status_code != 503:
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 1.0))
    return None


def _shop(base_url: str, secret_key: str, answers: Answers, number: str) -> None:
    """One shopper: a session over the API, the hosted page, the card form; 503s are tried again."""
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as shopper:
        api = {"Authorization": f"Bearer {secret_key}", "Idempotency-Key": f"chaos-session-{number}"}
        body = {"amount": 2500, "currency": "EUR", "reference": f"chaos-{number}"}
        created = _until_answered(
            answers,
            lambda: shopper.post("/api/v1/checkout/sessions", json=body, headers=api),
            "POST",
            "/api/v1/checkout/sessions",
        )
        if created is None or created.status_code != 201:
            with answers.lock:
                answers.gave_up += 1
            return
        session_id = created.json()["id"]
        for _attempt in range(20):
            page = _until_answered(answers, lambda: shopper.get(f"/pay/{session_id}"), "GET", "/pay/<cs>")
            if page is None:
                break
            in_flight = _STATUS_URL.search(page.headers.get("Location", ""))
            if page.status_code in (302, 303) and in_flight:
                # A Pay answered with an error committed its payment all the same: the page says so.
                with answers.lock:
                    answers.accepted[session_id] = in_flight.group(2)
                    answers.accepted_at.append(time.monotonic())
                return
            if page.status_code != 200:
                break
            token = _CSRF.search(page.text)
            assert token is not None, page.text[:2000]
            form = {"csrf_token": token.group(1), **CARD}
            paid = _until_answered(
                answers,
                lambda form=form: shopper.post(f"/pay/{session_id}", data=form),
                "POST",
                "/pay/<cs>",
            )
            if paid is None:
                break
            found = _STATUS_URL.search(paid.headers.get("Location", ""))
            if paid.status_code in (302, 303) and found:
                with answers.lock:
                    answers.accepted[session_id] = found.group(2)
                    answers.accepted_at.append(time.monotonic())
                return
            if paid.status_code == 200:
                continue  # the form came back (the CSRF token of a page served during the outage): again
            break
        with answers.lock:
            answers.gave_up += 1


def _payments(admin: str) -> dict[str, tuple[str, str | None]]:
    """Every payment's status and checkout session, read as a superuser (every tenant's rows)."""
    engine = create_engine(admin)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status, checkout_session_id FROM payments")).all()
    finally:
        engine.dispose()
    return {str(r[0]): (str(r[1]), r[2]) for r in rows}


@dataclass
class Outcome:
    answers: Answers
    restarted_at: float
    recovered_in: float | None
    #: Seconds from the restart until the hosted page accepted a payment again.
    serving_again_in: float | None
    lost: int
    unfinished: int
    processes_died: list[str]


def _run_load(
    kassa: Kassa, secret_key: str, admin: str, *, outage: Callable[[], None], restart: Callable[[], None]
) -> Outcome:
    """Shoppers pay while `outage` takes the server down (once a third of the payments are accepted) and
    `restart` brings it back OUTAGE seconds later; then wait for every accepted payment to be final."""
    answers = Answers()
    run = uuid.uuid4().hex[:8]  # the scenarios of a module share a tenant: their idempotency keys differ
    with ThreadPoolExecutor(SHOPPERS) as pool:
        shopping = [
            pool.submit(_shop, kassa.base_url, secret_key, answers, f"{run}-{n}") for n in range(PAYMENTS)
        ]
        _wait_until(lambda: len(answers.accepted) >= PAYMENTS // 3, timeout=120, what="the first payments")
        outage()
        time.sleep(OUTAGE)
        restart()
        restarted_at = time.monotonic()
        for done in shopping:
            done.result()
    recovered_in: float | None = None
    deadline = time.monotonic() + RECOVERY
    while True:
        payments = _payments(admin)
        if all(payments.get(p, ("?",))[0] in FINAL_STATUSES for p in answers.accepted.values()):
            recovered_in = round(time.monotonic() - restarted_at, 1)
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    payments = _payments(admin)
    lost = sum(
        1
        for session_id, payment_id in answers.accepted.items()
        if payment_id not in payments or payments[payment_id][1] != session_id
    )
    unfinished_count = sum(
        1 for p in answers.accepted.values() if payments.get(p, ("?",))[0] not in FINAL_STATUSES
    )
    return Outcome(
        answers=answers,
        restarted_at=restarted_at,
        recovered_in=recovered_in,
        serving_again_in=next(
            (round(at - restarted_at, 1) for at in sorted(answers.accepted_at) if at >= restarted_at), None
        ),
        lost=lost,
        unfinished=unfinished_count,
        processes_died=[name for name in kassa.processes if name not in kassa.alive()],
    )


def _record(name: str, outcome: Outcome) -> figures.Scenario:
    answers = outcome.answers
    return figures.record(
        name,
        zero=(
            "other_5xx",
            "503_without_retry_after",
            "transport_errors",
            "lost_payments",
            "unfinished_after_recovery",
            "gave_up",
            "processes_died",
        ),
        payments=len(answers.accepted),
        outage_seconds=OUTAGE,
        answered_503=answers.statuses[503],
        other_5xx=answers.other_5xx,
        **{"503_without_retry_after": answers.unavailable_without_retry_after},
        transport_errors=answers.transport_errors,
        lost_payments=outcome.lost,
        unfinished_after_recovery=outcome.unfinished,
        gave_up=answers.gave_up,
        processes_died=len(outcome.processes_died),
        seconds_to_serve_again=outcome.serving_again_in,
        seconds_to_recover=outcome.recovered_in,
    )


def _check_unavailable_answers(answers: Answers) -> None:
    """A 503 under /api is the API's JSON error; elsewhere the HTML error page."""
    for path, response in answers.unavailable.items():
        if path.startswith("/api/"):
            assert response.headers["Content-Type"].startswith("application/json"), response.text[:500]
            assert response.json()["error"]["type"] == "api_error", response.text[:500]
        else:
            assert response.headers["Content-Type"].startswith("text/html"), response.text[:500]
            assert "<html" in response.text.lower(), response.text[:500]


def _tenant(kassa: Kassa, slug: str) -> str:
    """A tenant made with the CLI; its secret test key."""
    made = kassa.cli(
        *("tenants", "create", "--name", "Chaos", "--slug", slug),
        *("--country", "DE", "--currency", "EUR", "--json"),
    )
    return str(json.loads(made)["secret_key"])


@dataclass
class Stack:
    """The servers and Kassa's processes one module's scenarios share (started once: about 15 s)."""

    cluster: Cluster
    redis: RedisServer
    kassa: Kassa
    secret_key: str
    #: A superuser's URL of the cluster's database, to read every tenant's payments.
    admin: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("DATABASE_URL", "").startswith("postgresql") is False or not os.environ.get(
        "REDIS_URL"
    ):
        # Like the rest of the PostgreSQL and Redis tests: skipped on a laptop without them, required in CI.
        skip_or_fail("needs PostgreSQL and Redis installed (bash .ci/run)")
    cluster, redis_server = Cluster(), RedisServer()
    kassa: Kassa | None = None
    try:
        cluster.start()
        redis_server.start()
        # Production roles, as .ci/run and setup-db.sh make them: a plain owner role owns the database and
        # migrates it; the application connects as the application role.
        engine = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE ROLE kassa_owner LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE"))
            conn.execute(text("CREATE DATABASE kassa OWNER kassa_owner"))
        engine.dispose()
        admin = cluster.url("kassa")
        kassa = Kassa(
            {
                "DATABASE_URL": cluster.url("kassa", user="kassa_owner"),
                "DATABASE_APP_URL": cluster.url("kassa", user="kassa_app"),
                "DATABASE_DEFINER_ROLE": "kassa_definer",
                "DATABASE_ADMIN_URL": admin,
                "REDIS_URL": redis_server.url,
            },
            tmp_path_factory.mktemp("kassa-logs"),
        )
        kassa.cli("db", "bootstrap-roles")
        kassa.cli("db", "upgrade")
        secret_key = _tenant(kassa, "chaos")
        kassa.start()
        yield Stack(cluster=cluster, redis=redis_server, kassa=kassa, secret_key=secret_key, admin=admin)
    finally:
        if kassa is not None:
            kassa.stop()
        redis_server.remove()
        cluster.remove()


# Redis -------------------------------------------------------------------------------------------------


#: An orderly restart keeps Redis's data (dumped on the way down); at full size Redis also comes back empty,
#: as after a crash without persistence, and the sweeper re-queues the jobs that went with it.
REDIS_RESTARTS = [
    pytest.param(True, id="restart"),
    *([pytest.param(False, id="restart-empty")] if figures.FULL else []),
]


@pytest.mark.parametrize("keep_data", REDIS_RESTARTS)
def test_redis_restarted_mid_load_loses_nothing_and_answers_503_while_down(
    stack: Stack, keep_data: bool
) -> None:
    outcome = _run_load(
        stack.kassa,
        stack.secret_key,
        stack.admin,
        outage=lambda: stack.redis.stop(keep_data=keep_data),
        restart=stack.redis.start,
    )
    scenario = _record(f"redis {'restarted' if keep_data else 'restarted empty'} mid-load", outcome)
    assert outcome.answers.statuses[503] > 0, "nothing answered 503: the outage missed the load"
    _check_unavailable_answers(outcome.answers)
    assert scenario.ok, (
        scenario.values,
        outcome.answers.bad[:20],
        outcome.answers.transport_seen,
        stack.kassa.log_tail(),
    )


# PostgreSQL --------------------------------------------------------------------------------------------


def test_postgresql_restarted_mid_load_answers_503_and_completes_every_accepted_payment(stack: Stack) -> None:
    readiness: dict[str, int] = {}

    def outage() -> None:
        stack.cluster.stop()
        readiness["down"] = httpx.get(f"{stack.kassa.base_url}/readyz", timeout=10).status_code

    outcome = _run_load(
        stack.kassa, stack.secret_key, stack.admin, outage=outage, restart=stack.cluster.start
    )
    readiness["after"] = httpx.get(f"{stack.kassa.base_url}/readyz", timeout=10).status_code
    scenario = _record("postgresql restarted mid-load", outcome)
    assert outcome.answers.statuses[503] > 0, "nothing answered 503: the outage missed the load"
    _check_unavailable_answers(outcome.answers)
    # /readyz with PostgreSQL stopped and after (tests/core/test_observability.py checks the same on a
    # test client; here it is the real server, in the middle of load).
    assert readiness == {"down": 503, "after": 200}
    assert scenario.ok, (
        scenario.values,
        outcome.answers.bad[:20],
        outcome.answers.transport_seen,
        stack.kassa.log_tail(),
    )


# A connection the server dropped -----------------------------------------------------------------------


def test_a_transaction_whose_connection_the_server_dropped_fails_as_unavailable_and_the_next_one_works(
    clean: Runtime, make: Factories
) -> None:
    """The rollback of a transaction on a dropped connection must not trip over the connection (it raised
    PendingRollbackError, a 500, instead of the OperationalError that is a 503), and the pool must hand out
    a working connection next."""
    if not clean.db.is_postgres:
        skip_or_fail("needs PostgreSQL: set DATABASE_URL (bash .ci/run does)")
    tenant = make.tenants()
    with pytest.raises(OperationalError) as raised, clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        uow.session.execute(text("SELECT count(*) FROM payments"))
        # What a PostgreSQL restart does to every open connection.
        uow.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        uow.session.execute(text("SELECT 1"))
    assert is_unavailable(raised.value)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.execute(text("SELECT count(*) FROM payments")).scalar_one() == 0
