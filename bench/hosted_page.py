"""Hosted page GET requests per second under gunicorn, beside a hello-world Flask route.

One run, two measured phases with the same gunicorn command (`--workers 2 --threads 4` by default,
gthread, bound to 127.0.0.1 on a free port, no access log) and the same load:

1. Baseline: gunicorn serves `bench.hello_app:create_app()`, one Flask route answering "Hello, World!".
2. Hosted page: gunicorn serves `wsgi:create_app()` with `KASSA_SURFACES=checkout` (a checkout process, as
   in production) over the benchmark's own database, in which it created beforehand one tenant and one
   open checkout session; it measures `GET /pay/<cs_id>`: the session and its tenant loaded from the
   database, locality rules, branding, Babel, the Jinja page, security headers and a CSP nonce.

Load: a fixed number of keep-alive connections (http.client, one thread each, in this process), each
sending the next GET as soon as the previous answer is read; a warm-up, then a fixed measured window.
Bounded in time and count, loopback only. The load generator shares the machine with the server: its own
CPU use is printed so a reader can tell when it, not the server, was the limit.

Database: by default a fresh SQLite file in a temporary directory (deleted afterwards; Redis is the
in-process stand-in, which a page GET does not use). `--database-url` takes a PostgreSQL database
instead, whose name must start with `kassa_bench` (never the test suite's `test`); the benchmark adds a
`bench-hosted-…` tenant to it each run.
"""

from __future__ import annotations

import http.client
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bench import hello_app
from core.config import ConfigurationError, Settings, with_driver
from core.context import Actor, ActorType
from core.jobs import runtime as runtime_module
from core.migrate import upgrade
from core.payments import sessions
from tenants.service import create_tenant

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SLUG_PREFIX = "bench-hosted-"
DATABASE_PREFIX = "kassa_bench"
READY_TIMEOUT = 30.0
#: Hard cap on requests per phase, whatever the duration: the load stays bounded.
MAX_REQUESTS = 2_000_000
SHOPPER = Actor(ActorType.SHOPPER, "bench-shopper", origin_ip="203.0.113.7")


class BenchFailed(click.ClickException):
    """The benchmark could not run, or the server answered something other than 200 (exit status 1)."""


# --- the database and the checkout session (not timed) --------------------------------------------------


def database_url_for(option: str | None, workdir: Path) -> str:
    if not option:
        return f"sqlite:///{workdir / 'hosted-page.sqlite3'}"
    try:
        url = make_url(with_driver(option))
    except ArgumentError:
        raise BenchFailed(f"--database-url is not a database URL: {option!r}") from None
    if url.get_backend_name() == "postgresql" and not (url.database or "").startswith(DATABASE_PREFIX):
        raise BenchFailed(
            f"--database-url names the database {url.database!r}; the benchmark only writes to a database "
            f"of its own, named {DATABASE_PREFIX}… (never the test suite's `test`):\n"
            f"  createdb -h 127.0.0.1 -U postgres {DATABASE_PREFIX}"
        )
    return url.render_as_string(hide_password=False)


def prepare(env: dict[str, str]) -> tuple[Settings, str]:
    """Migrate the database and create a tenant with one open checkout session; returns its path."""
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        raise BenchFailed(str(exc)) from None
    upgrade(settings)
    rt = runtime_module.configure(settings)
    try:
        stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        with rt.db.unit_of_work() as uow:
            tenant, _keys = create_tenant(
                uow.session,
                rt.context(uow, Actor.system("bench")),
                name="Bean There Coffee",
                slug=f"{SLUG_PREFIX}{stamp}",
                country="DE",
                currency="EUR",
            )
            tenant_id = tenant.id
        ctx = sessions.SessionTerms(tenant_id=tenant_id, livemode=False, allowed_methods=["card"])
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            cs = sessions.create(
                uow.session,
                rt.context(uow, SHOPPER),
                terms=ctx,
                data={"amount": 2500, "currency": "EUR", "description": "Coffee beans, 1 kg"},
            )
            session_id = cs.id
    finally:
        rt.db.dispose()
    return settings, f"/pay/{session_id}"


# --- gunicorn -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def gunicorn_argv(app: str, port: int, *, workers: int, threads: int) -> list[str]:
    """The one gunicorn command both phases use; only the application differs."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [
        str(gunicorn if gunicorn.exists() else shutil.which("gunicorn") or "gunicorn"),
        app,
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]


class Gunicorn:
    """A gunicorn master and its workers, stopped (SIGTERM, then SIGKILL) on leaving the block."""

    def __init__(self, label: str, argv: list[str], *, port: int, env: dict[str, str], log: Path) -> None:
        self.label, self.argv, self.port, self.env, self.log = label, argv, port, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def fail(self, problem: str) -> BenchFailed:
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return BenchFailed(f"{self.label}: {problem}. gunicorn's log ({self.log}):\n{tail}")

    def wait_ready(self, path: str) -> bytes:
        """Wait until gunicorn answers `path` with 200; returns that first body."""
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise self.fail(f"gunicorn exited with status {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    body = response.read()
                finally:
                    conn.close()
                if response.status == 200:
                    return body
                raise self.fail(f"GET {path} answered {response.status}")
            except OSError:
                if time.monotonic() > deadline:
                    raise self.fail(
                        f"not answering on {HOST}:{self.port} after {READY_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the workers so far (Linux /proc; None elsewhere)."""
        if self.proc is None or not Path("/proc/self/stat").exists():
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # After the command name: state, ppid, …; utime and stime are fields 14 and 15 of stat(5).
            if int(fields[1]) == self.proc.pid:
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total


# --- load -----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    path: str
    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    body_bytes: int = 0
    client_cpu: float = 0.0
    server_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(server: Gunicorn, phase: Phase, *, connections: int, warmup: float, seconds: float) -> Phase:
    """Keep-alive connections GET `phase.path` back to back: a warm-up, then the measured window."""
    start = time.perf_counter()
    measure_from = start + warmup
    measure_until = measure_from + seconds
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        count = errors = size = 0
        while True:
            sent = time.perf_counter()
            if sent >= measure_until or count >= MAX_REQUESTS // connections:
                break
            try:
                conn.request("GET", phase.path)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
                if sent >= measure_from:
                    errors += 1
                continue
            done = time.perf_counter()
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
            if sent >= measure_from and done <= measure_until:
                count += 1
                size += len(body)
                latencies.append(done - sent)
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()
        with lock:
            phase.requests += count
            phase.errors += errors
            phase.body_bytes += size
            phase.latencies.extend(latencies)
            for status, n in statuses.items():
                phase.statuses[status] = phase.statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_before, server_before = _client_cpu(), server.cpu_seconds()
    time.sleep(max(0.0, measure_until - time.perf_counter()))
    cpu_after, server_after = _client_cpu(), server.cpu_seconds()
    for thread in threads:
        thread.join(timeout=30)
    phase.seconds = seconds
    phase.client_cpu = (cpu_after - cpu_before) / seconds
    if server_before is not None and server_after is not None:
        phase.server_cpu = (server_after - server_before) / seconds
    ok = phase.statuses.get(200, 0)
    if phase.errors or ok != phase.requests or not phase.requests:
        raise BenchFailed(
            f"{phase.label}: {phase.requests} answers ({phase.statuses}), {phase.errors} connection errors; "
            "every answer must be 200."
        )
    return phase


# --- report ---------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory:.1f} GiB RAM; Python {platform.python_version()}, "
        f"gunicorn {version('gunicorn')}, Flask {version('flask')}"
    )


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def report(*, header: Sequence[tuple[str, str]], phases: Sequence[Phase]) -> None:
    echo = click.echo
    echo()
    echo("Kassa benchmark: hosted page GET requests/s under gunicorn, beside a hello-world Flask route")
    for key, value in header:
        echo(f"  {key:<9} {value}")
    echo()
    echo(
        f"  {'':<24} {'req/s':>8} {'p50':>9} {'p95':>9} {'p99':>9} {'requests':>9} {'bytes':>7} "
        f"{'client CPU':>11} {'server CPU':>11}"
    )
    for phase in phases:
        echo(
            f"  {phase.label:<24} {phase.rate:>8,.0f} {_ms(percentile(phase.latencies, 50)):>9} "
            f"{_ms(percentile(phase.latencies, 95)):>9} {_ms(percentile(phase.latencies, 99)):>9} "
            f"{phase.requests:>9,} {phase.body_bytes // max(phase.requests, 1):>7,} "
            f"{_cores(phase.client_cpu):>11} {_cores(phase.server_cpu):>11}"
        )
    hello, page = phases
    echo()
    echo(
        f"  hosted page ÷ hello world = {page.rate / hello.rate:.3f}  "
        f"(a hosted page GET costs as much as ~{hello.rate / page.rate:.1f} hello-world GETs)"
    )
    echo("  latency: request sent → whole answer read, per keep-alive connection; bytes: body per answer")
    echo("  CPU: cores busy during the measured window (client: this process; server: gunicorn's workers)")


# --- command --------------------------------------------------------------------------------------------


@click.command(
    "hosted_page",
    help="Hosted page GET requests/s under gunicorn, and the same gunicorn configuration's hello-world "
    "Flask route in the same run, with their ratio. Loopback only; runs on a temporary SQLite database "
    "unless --database-url names a PostgreSQL database of its own (kassa_bench…).",
)
@click.option(
    "--seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(1, 300),
    help="Measured window per phase.",
)
@click.option(
    "--warmup", default=2.0, show_default=True, type=click.FloatRange(0, 60), help="Unmeasured seconds first."
)
@click.option(
    "--connections", default=8, show_default=True, type=click.IntRange(1, 256), help="Keep-alive connections."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@click.option(
    "--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker."
)
@click.option(
    "--database-url", default=None, help="PostgreSQL database named kassa_bench… (default: temporary SQLite)."
)
def command(
    seconds: float, warmup: float, connections: int, workers: int, threads: int, database_url: str | None
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-hosted-"))
    ok = False
    try:
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL")
        }
        env.update(
            DATABASE_URL=database_url_for(database_url, workdir),
            KASSA_SURFACES="checkout",
            KASSA_ENV="development",
            KASSA_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        )
        if database_url and os.environ.get("DATABASE_APP_URL"):
            env["DATABASE_APP_URL"] = os.environ["DATABASE_APP_URL"]
        load_before = load_average()
        click.echo("Preparing the database: one tenant, one open checkout session …", err=True)
        settings, page_path = prepare(env)
        phases = []
        for label, app, path in (
            ("hello world", "bench.hello_app:create_app()", hello_app.PATH),
            ("hosted page", "wsgi:create_app()", page_path),
        ):
            port = free_port()
            argv = gunicorn_argv(app, port, workers=workers, threads=threads)
            with Gunicorn(
                label, argv, port=port, env=env, log=workdir / f"{label.replace(' ', '-')}.log"
            ) as server:
                body = server.wait_ready(path)
                if path == page_path and b"Card number" not in body:
                    raise server.fail(f"GET {path} did not render the card form")
                click.echo(f"Measuring {label}: GET {path}, {warmup:g} s warm-up + {seconds:g} s …", err=True)
                phases.append(
                    run_load(
                        server,
                        Phase(f"{label} GET", path),
                        connections=connections,
                        warmup=warmup,
                        seconds=seconds,
                    )
                )
        database = make_url(settings.database_url)
        shown = (
            f"SQLite, a fresh file ({database.database})"
            if database.get_backend_name() == "sqlite"
            else f"PostgreSQL {database.database} on {database.host}:{database.port or 5432}"
        )
        report(
            header=[
                ("machine", machine()),
                ("load avg", f"{load_before} before the run; {load_average()} after"),
                (
                    "gunicorn",
                    f"{workers} workers x {threads} threads (gthread) on {HOST}, no access log; the same "
                    "command for both apps",
                ),
                (
                    "load",
                    f"{connections} keep-alive connections (http.client threads in one process), "
                    f"{warmup:g} s warm-up, then {seconds:g} s each",
                ),
                (
                    "database",
                    f"{shown}: 1 tenant, 1 open session; Redis: in-process stand-in (unused by GET)",
                ),
                ("page", f"GET {page_path} (KASSA_SURFACES=checkout, English, card form)"),
            ],
            phases=phases,
        )
        ok = True
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            click.echo(f"gunicorn logs kept in {workdir}", err=True)
