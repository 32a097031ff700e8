"""End-to-end payments per second (confirm → succeeded) with 2 workers, beside RQ's no-op job rate.

One run, on the production stack (PostgreSQL, Redis, real worker processes), in two measured phases:

1. RQ baseline: 2 plain `rq worker` processes (JSON serializer, like Kassa's) listen on a queue of the
   benchmark's own; once both are idle it enqueues N jobs of `bench.noop.noop`, timed from the first
   enqueue to the last job's end. (Not `--burst` workers started after the enqueue: their interpreter
   start-up would be counted, a large share of a few seconds.)
2. Payments: 2 `kassa worker --queue payments` processes wait, idle, until the benchmark confirms N
   checkout sessions with the sandbox test card, one after another, through the production path:
   `core.payments.service.confirm` writes the payment and its outbox row, and the outbox relay hands the
   job to RQ right after the commit, exactly as the hosted checkout does. Timed from the first confirm to
   the last payment's `succeeded` status row; latency per payment is its `created_at` to that row.

Both phases use the same Redis, the same number of jobs, the same RQ worker class (a forked work horse
per job) and two worker processes, so the ratio of the two rates is what Kassa's payment work costs on
top of RQ's own per-job cost.

Safety: it needs DATABASE_URL and REDIS_URL and refuses SQLite, the in-process Redis, the test suite's
database `test` and Redis database 15. It only runs in a Redis database that was empty when it first
claimed it (a marker key), and only ever flushes such a database; and only in a PostgreSQL database
with no tenants but its own (`bench-…` slugs).
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import and_, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

import core.payments.jobs  # noqa: F401  (registers process_payment before the clock starts)
from core.config import DEV_MASTER_KEY, ConfigurationError, Settings, with_driver
from core.context import Actor, ActorType
from core.db import make_engine
from core.jobs import runtime as runtime_module
from core.jobs.queues import PAYMENTS
from core.jobs.runtime import Runtime
from core.migrate import upgrade
from core.payments import service, sessions
from core.payments.models import Payment, PaymentStatus, PaymentStatusChange
from core.processors.sandbox import TestCards
from core.risk import service as risk
from tenants.service import create_tenant

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAYMENTS = 400
DEFAULT_TIMEOUT = 300.0
WORKERS = 2
NOOP_QUEUE = "kassa-bench-noop"
NOOP_JOB = "bench.noop.noop"
#: Marks a Redis database as the benchmark's own: set only in a database that was empty, and the only
#: thing that lets the benchmark flush a database.
OWNER_KEY = "kassa:bench:owner"
OWNER_NOTE = "claimed by Kassa's benchmark (python -m bench) while empty; it flushes this database per run"
#: The test suite's databases (`.ci/run`): it drops and flushes them, so the benchmark never uses them.
TEST_DATABASE = "test"
TEST_REDIS_DB = 15
SLUG_PREFIX = "bench-"
SUGGESTED_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/kassa_bench"
SUGGESTED_REDIS_URL = "redis://127.0.0.1:6379/9"
NEEDS_STACK = (
    "set DATABASE_URL=postgresql+psycopg://… and REDIS_URL=redis://…; the benchmark measures the "
    "production stack. For example:\n"
    "  createdb -h 127.0.0.1 -U postgres kassa_bench\n"
    f"  DATABASE_URL={SUGGESTED_DATABASE_URL} REDIS_URL={SUGGESTED_REDIS_URL} make bench"
)
CARD = TestCards.SUCCESS
AMOUNT = 2500
SHOPPER = Actor(ActorType.SHOPPER, "bench-shopper", origin_ip="203.0.113.7")
#: Every payment uses one card, email-less, from one IP: velocity rules still count each attempt, with
#: limits a busy merchant would set, so none trips.
RISK_LIMITS: Mapping[str, int] = {
    "max_attempts_per_card_hour": 1_000_000,
    "max_attempts_per_email_hour": 1_000_000,
    "max_attempts_per_ip_hour": 1_000_000,
}
#: Still in the worker's hands; anything else is an outcome (requires_action would wait for a shopper).
IN_FLIGHT = frozenset({PaymentStatus.INITIATED, PaymentStatus.PENDING})
POLL_SECONDS = 0.2
WORKER_START_TIMEOUT = 60.0


class BenchFailed(click.ClickException):
    """The benchmark could not run or its payments did not all succeed (exit status 1)."""


# --- preflight ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    settings: Settings
    #: The environment of every worker process (and the source of this process's settings).
    env: dict[str, str]
    redis_url: str
    redis_db: int


def preflight(environ: Mapping[str, str], *, sandbox_latency_ms: int) -> Target:
    database_url = environ.get("DATABASE_URL", "").strip()
    redis_url = environ.get("REDIS_URL", "").strip()
    if not database_url or not redis_url:
        raise BenchFailed(NEEDS_STACK)
    database_url = with_driver(database_url)
    try:
        database = make_url(database_url)
    except ArgumentError:
        raise BenchFailed(f"DATABASE_URL is not a database URL. {NEEDS_STACK}") from None
    if database.get_backend_name() != "postgresql":
        raise BenchFailed(f"DATABASE_URL is {database.get_backend_name()}, not PostgreSQL: {NEEDS_STACK}")
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise BenchFailed(f"REDIS_URL must name a Redis server (redis://…), not {redis_url!r}: {NEEDS_STACK}")
    redis_db = int(redis.Redis.from_url(redis_url).connection_pool.connection_kwargs.get("db") or 0)
    if redis_db == TEST_REDIS_DB:
        raise BenchFailed(
            f"REDIS_URL names Redis database {TEST_REDIS_DB}, the test suite's (it flushes it). "
            f"Give the benchmark a database of its own, e.g. REDIS_URL={SUGGESTED_REDIS_URL}"
        )
    env = dict(environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # One key for this process and every worker, or the workers could not open the card vault.
        KASSA_MASTER_KEY=environ.get("KASSA_MASTER_KEY") or DEV_MASTER_KEY,
        KASSA_LOG_LEVEL=environ.get("KASSA_LOG_LEVEL") or "WARNING",
        KASSA_SANDBOX_LATENCY_MS=str(sandbox_latency_ms),
        KASSA_SANDBOX_FAULT_RATE="0",
        KASSA_SANDBOX_TIMEOUT_RATE="0",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p),
    )
    env.pop("KASSA_SANDBOX_SEED", None)
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        raise BenchFailed(str(exc)) from None
    for name, url in (
        ("DATABASE_URL", settings.database_url),
        ("DATABASE_APP_URL", settings.app_database_url),
    ):
        if make_url(url).database == TEST_DATABASE:
            raise BenchFailed(
                f"{name} names the database {TEST_DATABASE!r}, the test suite's (it drops its schema). "
                "Give the benchmark a database of its own:\n  createdb -h 127.0.0.1 -U postgres kassa_bench"
            )
    return Target(settings=settings, env=env, redis_url=redis_url, redis_db=redis_db)


def claim_redis(client: redis.Redis, db: int) -> str:
    """Start from an empty Redis database that is the benchmark's own; refuse any other."""
    try:
        owned = client.get(OWNER_KEY) is not None
        size = client.dbsize()
    except redis.RedisError as exc:
        raise BenchFailed(f"Redis is unreachable ({type(exc).__name__}: {exc}). {NEEDS_STACK}") from None
    if owned:
        client.flushdb()  # the benchmark's own database, claimed while it was empty
    elif size:
        raise BenchFailed(
            f"Redis database {db} holds {size} key(s) the benchmark did not write, and it will not flush a "
            "database it did not claim itself. Point REDIS_URL at an empty database "
            f"(e.g. {SUGGESTED_REDIS_URL}, if `redis-cli -n 9 dbsize` says 0)."
        )
    client.set(OWNER_KEY, OWNER_NOTE)
    return "flushed, the benchmark's own" if owned else "was empty, now claimed by the benchmark"


def check_database(settings: Settings) -> str:
    """Check the database is reachable and the benchmark's alone; returns the server's version."""
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
            foreign = 0
            if conn.execute(text("SELECT to_regclass('public.tenants')")).scalar() is not None:
                foreign = int(
                    conn.execute(
                        text("SELECT count(*) FROM tenants WHERE slug NOT LIKE :p"), {"p": f"{SLUG_PREFIX}%"}
                    ).scalar_one()
                )
    except OperationalError as exc:
        raise BenchFailed(
            f"Cannot connect to {shown}: {str(exc.orig).strip()}\n"
            "Create the benchmark's database first:\n  createdb -h 127.0.0.1 -U postgres kassa_bench"
        ) from None
    finally:
        engine.dispose()
    if foreign:
        raise BenchFailed(
            f"{shown} holds {foreign} tenant(s) the benchmark did not create. It writes hundreds of "
            "payments: give it a database of its own:\n  createdb -h 127.0.0.1 -U postgres kassa_bench"
        )
    return version


# --- fixtures: tenants and checkout sessions (not timed) -----------------------------------------------


def create_bench_tenant(rt: Runtime, *, name: str, slug_suffix: str) -> tuple[str, str]:
    """One `bench-…` tenant with the benchmark's risk limits (every payment uses one card and one IP);
    returns its id and its test secret key."""
    with rt.db.unit_of_work() as uow:
        tenant, keys = create_tenant(
            uow.session,
            rt.context(uow, Actor.system("bench")),
            name=name,
            slug=f"{SLUG_PREFIX}{slug_suffix}",
            country="DE",
            currency="EUR",
        )
        risk.update_settings(uow.session, tenant_id=tenant.id, changes=RISK_LIMITS)
        return tenant.id, keys.secret_key


def bench_stamp() -> str:
    """A run's mark in its tenants' slugs: the time, and a little randomness for runs in one second."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def create_tenants(rt: Runtime, count: int) -> list[str]:
    stamp = bench_stamp()
    return [
        create_bench_tenant(rt, name=f"Kassa bench {stamp} #{number}", slug_suffix=f"{stamp}-{number}")[0]
        for number in range(1, count + 1)
    ]


def create_sessions(rt: Runtime, tenant_ids: Sequence[str], count: int) -> list[tuple[str, str]]:
    """`count` open checkout sessions, dealt round-robin to the tenants: (tenant id, session id)."""
    made: list[tuple[str, str]] = []
    per_commit = 50
    with _bar(count, "Creating checkout sessions") as bar:
        for start in range(0, count, per_commit):
            numbers = range(start, min(start + per_commit, count))
            for tenant_id in tenant_ids:
                mine = [n for n in numbers if tenant_ids[n % len(tenant_ids)] == tenant_id]
                if not mine:
                    continue
                ctx = sessions.SessionTerms(
                    tenant_id=tenant_id,
                    livemode=False,
                    allowed_methods=["card"],
                )
                with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
                    for n in mine:
                        cs = sessions.create(
                            uow.session,
                            rt.context(uow, SHOPPER),
                            terms=ctx,
                            data={"amount": AMOUNT, "currency": "EUR", "reference": f"bench-{n + 1}"},
                        )
                        made.append((tenant_id, cs.id))
                bar.update(len(mine))
    return made


# --- worker processes -----------------------------------------------------------------------------------


class Workers:
    """`WORKERS` copies of one worker command, logging to files; stopped with SIGTERM (RQ's warm shutdown)."""

    def __init__(self, label: str, argv: Sequence[str], *, env: Mapping[str, str], logdir: Path) -> None:
        self.label = label
        self.argv = list(argv)
        self.env = dict(env)
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def __enter__(self) -> Workers:
        try:
            for number in range(1, WORKERS + 1):
                log = self.logdir / f"{self.label.replace(' ', '-')}-{number}.log"
                self.logs.append(log)
                with log.open("wb") as out:
                    self.procs.append(
                        subprocess.Popen(
                            self.argv,
                            env=self.env,
                            cwd=ROOT,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=out,
                        )
                    )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=False):
            if proc.poll() is not None:
                raise BenchFailed(
                    f"A {self.label} worker (pid {proc.pid}) exited with status {proc.returncode}. "
                    f"The end of its log ({log}):\n{_tail(log)}"
                )

    def wait_ready(self, connection: redis.Redis, queue: str) -> None:
        """Until every worker has registered in Redis and is idle, listening on `queue`."""
        wanted = {proc.pid for proc in self.procs}
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while True:
            self.check_alive()
            idle = {
                worker.pid
                for worker in Worker.all(
                    queue=Queue(queue, connection=connection, serializer=JSONSerializer),
                    serializer=JSONSerializer,
                )
                if worker.state == "idle"
            }
            if wanted <= idle:
                return
            if time.monotonic() > deadline:
                raise BenchFailed(
                    f"The {self.label} workers did not start listening on {queue!r} within "
                    f"{WORKER_START_TIMEOUT:.0f} s. Their logs: {', '.join(map(str, self.logs))}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        running = [proc for proc in self.procs if proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def kassa_worker_argv(*, in_process: bool, queues: Sequence[str] = (PAYMENTS,)) -> list[str]:
    """`kassa worker` on `queues` (the payments queue unless told), jobs in process or in a forked horse."""
    kassa = Path(sys.executable).with_name("kassa")
    args = ["worker", *(flag for queue in queues for flag in ("--queue", queue))]
    args.append("--in-process" if in_process else "--fork")
    if kassa.exists():
        return [str(kassa), *args]
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def rq_worker_argv(redis_url: str, *, in_process: bool) -> list[str]:
    # The baseline runs its jobs the way the Kassa workers do: in a forked work horse, or in process.
    worker_class = ["--worker-class", "rq.worker.SimpleWorker"] if in_process else []
    return [
        sys.executable,
        "-m",
        "rq.cli",
        "worker",
        NOOP_QUEUE,
        *worker_class,
        "--url",
        redis_url,
        "--serializer",
        "rq.serializers.JSONSerializer",
        "--path",
        str(ROOT),
    ]


# --- measurements ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    jobs: int
    seconds: float
    #: Per job: enqueue (or confirm) to finished (or succeeded), in seconds.
    latencies: list[float]
    #: Per job: RQ's started → ended, the job's own time in the worker, in seconds.
    run_times: list[float]
    #: Jobs that did not end as they should (failed, still pending), by status.
    problems: Counter[str]

    @property
    def done(self) -> int:
        return self.jobs - sum(self.problems.values())

    @property
    def rate(self) -> float:
        """Jobs that ended well per second (all of them, unless the run failed)."""
        return self.done / self.seconds if self.seconds > 0 else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _wait(
    label: str, total: int, *, done: Callable[[], int], workers: Workers, deadline: float, already: int = 0
) -> bool:
    """Show progress until `done()` reaches `total`; False when the deadline passed first."""
    with _bar(total, label) as bar:
        bar.update(already)
        seen = already
        while True:
            workers.check_alive()
            count = done()
            if count > seen:
                bar.update(count - seen)
                seen = count
            if count >= total:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)


def measure_noop(
    target: Target, client: redis.Redis, count: int, *, logdir: Path, timeout: float, in_process: bool
) -> Phase:
    queue = Queue(NOOP_QUEUE, connection=client, serializer=JSONSerializer)
    finished = FinishedJobRegistry(queue=queue)
    failed = FailedJobRegistry(queue=queue)
    argv = rq_worker_argv(target.redis_url, in_process=in_process)
    with Workers("rq no-op", argv, env=target.env, logdir=logdir) as workers:
        workers.wait_ready(client, NOOP_QUEUE)
        started = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        ids = [queue.enqueue_call(func=NOOP_JOB, result_ttl=3600).id for _ in range(count)]
        _wait(
            f"RQ no-op: {count} jobs, {WORKERS} workers",
            count,
            done=lambda: finished.count + failed.count,
            workers=workers,
            deadline=deadline,
        )
    jobs = [job for job in Job.fetch_many(ids, connection=client, serializer=JSONSerializer) if job]
    ok = [job for job in jobs if job.get_status() == JobStatus.FINISHED and job.ended_at and job.enqueued_at]
    problems: Counter[str] = Counter(str(job.get_status()) for job in jobs if job not in ok)
    problems["missing"] += count - len(jobs)
    last = max((job.ended_at for job in ok if job.ended_at), default=started)
    return Phase(
        jobs=count,
        seconds=(last - started).total_seconds(),
        run_times=_run_times(ok),
        latencies=[
            (job.ended_at - job.enqueued_at).total_seconds() for job in ok if job.ended_at and job.enqueued_at
        ],
        problems=+problems,
    )


def _run_times(jobs: Sequence[Job]) -> list[float]:
    return [
        (job.ended_at - job.started_at).total_seconds() for job in jobs if job.ended_at and job.started_at
    ]


def finished_jobs(client: redis.Redis, queue: str) -> list[Job]:
    registry = FinishedJobRegistry(queue=Queue(queue, connection=client, serializer=JSONSerializer))
    ids = registry.get_job_ids()
    return [job for job in Job.fetch_many(ids, connection=client, serializer=JSONSerializer) if job]


def confirm_one(rt: Runtime, tenant_id: str, session_id: str) -> None:
    """What the hosted checkout's confirm does: the payment, its outbox row, and the relay after commit."""
    data = service.PaymentInput(
        method="card",
        card_number=CARD,
        exp_month=12,
        exp_year=datetime.now(UTC).year + 5,
        cvc="123",
        client_ip=SHOPPER.origin_ip,
        country="DE",
    )
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        service.confirm(
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant_id,
            session_id=session_id,
            data=data,
        )


def payment_statuses(rt: Runtime, tenant_ids: Sequence[str]) -> Counter[PaymentStatus]:
    # Tenant by tenant as the application role: row-level security binds the (non-superuser) owner too,
    # so a query across tenants sees nothing on a production-like database.
    statuses: Counter[PaymentStatus] = Counter()
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            rows = uow.session.execute(select(Payment.status, func.count()).group_by(Payment.status)).all()
        statuses.update({PaymentStatus(status): int(n) for status, n in rows})
    return statuses


def settled(rt: Runtime, tenant_ids: Sequence[str]) -> int:
    return sum(n for status, n in payment_statuses(rt, tenant_ids).items() if status not in IN_FLIGHT)


@dataclass(frozen=True)
class PaymentsPhase(Phase):
    #: How long this process took to confirm them all (one after another, as fast as it could).
    confirm_seconds: float = 0.0


def measure_payments(
    target: Target,
    rt: Runtime,
    tenant_ids: Sequence[str],
    checkout: Sequence[tuple[str, str]],
    *,
    logdir: Path,
    timeout: float,
    in_process: bool,
) -> PaymentsPhase:
    count = len(checkout)
    argv = kassa_worker_argv(in_process=in_process)
    with Workers("kassa", argv, env=target.env, logdir=logdir) as workers:
        workers.wait_ready(rt.redis, PAYMENTS)
        started = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        with _bar(count, f"Confirming {count} payments") as bar:
            for tenant_id, session_id in checkout:
                confirm_one(rt, tenant_id, session_id)
                bar.update(1)
        confirm_seconds = (datetime.now(UTC) - started).total_seconds()
        while rt.relay():
            pass  # whatever the relay right after a commit could not hand over (none, normally)
        _wait(
            f"Payments settling, {WORKERS} workers",
            count,
            done=lambda: settled(rt, tenant_ids),
            workers=workers,
            deadline=deadline,
            already=settled(rt, tenant_ids),
        )
    rows = []
    for tenant_id in tenant_ids:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            rows += uow.session.execute(
                select(Payment.status, Payment.created_at, PaymentStatusChange.created_at).outerjoin(
                    PaymentStatusChange,
                    and_(
                        PaymentStatusChange.tenant_id == Payment.tenant_id,
                        PaymentStatusChange.payment_id == Payment.id,
                        PaymentStatusChange.status == PaymentStatus.SUCCEEDED,
                    ),
                )
            ).all()
    succeeded = [(created, done) for status, created, done in rows if done is not None]
    problems: Counter[str] = Counter(str(status) for status, _, done in rows if done is None)
    problems["never confirmed"] += count - len(rows)
    last = max((done for _, done in succeeded), default=started)
    return PaymentsPhase(
        jobs=count,
        seconds=(last - started).total_seconds(),
        latencies=[(done - created).total_seconds() for created, done in succeeded],
        run_times=_run_times(finished_jobs(rt.redis, PAYMENTS)),
        problems=+problems,
        confirm_seconds=confirm_seconds,
    )


# --- report ---------------------------------------------------------------------------------------------


def _bar(length: int, label: str) -> Any:
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True, show_eta=False)


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.1f} GiB RAM"


def report(*, header: Sequence[tuple[str, str]], noop: Phase, pay: PaymentsPhase) -> None:
    echo = click.echo
    echo()
    echo("Kassa benchmark: payments per second, confirm → succeeded, beside RQ's no-op job rate")
    for key, value in header:
        echo(f"  {key:<9} {value}")
    echo()
    echo(f"  {'':<27} {'per s':>7} {'latency p50':>12} {'p95':>9} {'job p50':>9} {'wall':>8}")
    for name, phase in ((f"RQ no-op jobs, {WORKERS} workers", noop), (f"payments, {WORKERS} workers", pay)):
        echo(
            f"  {name:<27} {phase.rate:>7.1f} {_ms(percentile(phase.latencies, 50)):>12} "
            f"{_ms(percentile(phase.latencies, 95)):>9} {_ms(percentile(phase.run_times, 50)):>9} "
            f"{phase.seconds:>7.2f}s"
        )
    ratio = pay.rate / noop.rate if noop.rate else math.nan
    echo()
    echo(
        f"  payments/s ÷ no-op jobs/s = {ratio:.3f}  (a payment takes as long as ~{1 / ratio:.0f} no-op jobs)"
    )
    echo(
        f"  confirming all {pay.jobs} took {pay.confirm_seconds:.2f} s of the {pay.seconds:.2f} s "
        f"({pay.jobs / pay.confirm_seconds:.1f}/s, one after another in this process)"
    )
    echo("  latency: enqueued → finished (no-op), confirmed → `succeeded` status row (payment)")
    echo("  job: RQ's started → ended in the worker (what the job itself took)")
    for name, phase in (("payments", pay), ("no-op jobs", noop)):
        if phase.problems:
            echo(
                f"  INCOMPLETE: only {phase.done} of {phase.jobs} {name} ended well; the figures count those."
            )


def _load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


# --- command --------------------------------------------------------------------------------------------


@click.command(
    "payments",
    help="End-to-end payments per second (confirm → succeeded) with 2 worker processes on PostgreSQL + "
    "Redis, beside RQ's no-op job rate measured in the same run. Needs DATABASE_URL and REDIS_URL "
    f"(e.g. {SUGGESTED_DATABASE_URL} after `createdb -h 127.0.0.1 -U postgres kassa_bench`, and "
    f"{SUGGESTED_REDIS_URL}).",
)
@click.option(
    "--payments",
    "count",
    default=DEFAULT_PAYMENTS,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Payments to confirm; the RQ baseline runs as many no-op jobs.",
)
@click.option(
    "--tenants",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Spread the payments over this many fresh bench tenants (each tenant's audit chain takes one "
    "writer at a time).",
)
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds each phase may take; a payment not succeeded by then fails the run.",
)
@click.option(
    "--sandbox-latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Latency the sandbox acquirer adds to each call (0: Kassa's own cost only).",
)
@click.option(
    "--in-process",
    is_flag=True,
    help="Workers run jobs in process (`kassa worker --in-process`; the RQ baseline with SimpleWorker).",
)
def command(count: int, tenants: int, timeout: float, sandbox_latency_ms: int, in_process: bool) -> None:
    target = preflight(os.environ, sandbox_latency_ms=sandbox_latency_ms)
    settings = target.settings
    pg_version = check_database(settings)
    client = redis.Redis.from_url(target.redis_url)
    redis_state = claim_redis(client, target.redis_db)
    redis_version = str(client.info("server").get("redis_version", "?"))
    load_before = _load_average()
    click.echo("Migrating the benchmark's database …", err=True)
    upgrade(settings)
    rt = runtime_module.configure(settings)
    logdir = Path(tempfile.mkdtemp(prefix="kassa-bench-"))
    ok = False
    try:
        tenant_ids = create_tenants(rt, tenants)
        checkout = create_sessions(rt, tenant_ids, count)
        noop = measure_noop(target, client, count, logdir=logdir, timeout=timeout, in_process=in_process)
        pay = measure_payments(
            target, rt, tenant_ids, checkout, logdir=logdir, timeout=timeout, in_process=in_process
        )
        database = make_url(settings.database_url)
        report(
            header=[
                ("machine", f"{machine()}; PostgreSQL {pg_version}, Redis {redis_version}"),
                ("load avg", f"{load_before} before the run; {_load_average()} after"),
                ("database", f"{database.database} on {database.host}:{database.port or 5432}"),
                ("redis", f"db {target.redis_db} ({redis_state})"),
                (
                    "payments",
                    f"{count} of {AMOUNT / 100:.2f} EUR, card {CARD[:4]}…{CARD[-4:]}, {tenants} tenant(s), "
                    f"sandbox latency {sandbox_latency_ms} ms",
                ),
                (
                    "workers",
                    "2, jobs in process (SimpleWorker)" if in_process else "2, a forked work horse per job",
                ),
            ],
            noop=noop,
            pay=pay,
        )
        problems = [
            *(f"{n} payment(s) {status}" for status, n in pay.problems.items()),
            *(f"{n} no-op job(s) {status}" for status, n in noop.problems.items()),
        ]
        if problems:
            listed = ", ".join(problems)
            raise BenchFailed(f"Not every job ended well within {timeout:.0f} s: {listed}.")
        ok = True
    finally:
        rt.db.dispose()
        if ok:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            click.echo(f"Worker logs kept in {logdir}", err=True)
