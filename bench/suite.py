"""`make bench`: every Kassa figure beside this machine's ceiling for it, measured in one run.

A requests/s figure on its own says as much about the machine (and whatever else runs on it) as about
Kassa; divided by a ceiling measured in the same run, with the same gunicorn command and the same load,
it says what Kassa's own work costs. This benchmark starts, on 127.0.0.1 and free ports:

- the ceilings (`bench/ceiling_app.py`): a hello-world Flask route, a `SELECT 1` route and a Core
  INSERT + COMMIT route, on the same PostgreSQL;
- Kassa (`wsgi:create_app()`) with production settings (KASSA_ENV=production, fresh secrets, https base
  URL), all surfaces, over the benchmark's own tenant;

both under `gunicorn --workers N --worker-class sync`, and loads them with wrk (Debian's `wrk`), in
alternating rounds of `--seconds` each (ceiling, Kassa, ceiling, Kassa, ...); each figure is the median of
its rounds. The pairs:

| Kassa | ceiling |
|---|---|
| `GET /pay/<cs>` (the hosted page) | `GET /hello` |
| `POST /api/v1/checkout/sessions` (key, validation, idempotency, audit, event, outbox) | `POST /insert` |
| `POST /pay/<cs>` (the confirm: vault, payment, history, outbox; a fresh session each) | `POST /insert` |

then payments end to end: 2 `kassa worker` processes beside 2 RQ no-op workers of the same class
(`bench/payments.py`), and the resident memory of every web and worker process. The figures are printed
and written to `bench/results/<commit>.json`.

Load stays on this machine and is bounded: wrk runs for the given seconds only, the payments phase for
a given count. It needs DATABASE_URL (a PostgreSQL database of its own, e.g. kassa_bench) and REDIS_URL
(a Redis database of its own, e.g. /9), and refuses the test suite's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
import redis
from sqlalchemy import func, insert, select, text

from bench import ceiling_app, payments
from bench.hosted_page import HOST, Gunicorn, free_port, machine
from core.config import Settings
from core.db import make_engine
from core.ids import new_id
from core.jobs import runtime as runtime_module
from core.memory import children_current_rss_mb
from core.migrate import upgrade
from core.payments.models import CheckoutSession, Payment, PaymentStatus, SessionStatus

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SESSION_BODY = json.dumps({"amount": 2500, "currency": "EUR", "description": "Coffee beans, 1 kg"})
CARD_FORM = {"method": "card", "number": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123"}


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    #: Answers that were not 2xx or 3xx, plus socket errors: each one fails the run.
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The figures of `wrk --latency` from its text report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (done and rate and p50 and p99):
        raise payments.BenchFailed(f"could not read wrk's report:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        # A read error is wrk seeing a sync worker close the connection after its answer: not a failure.
        errors += int(socket_errors.group(1)) + int(socket_errors.group(3)) + int(socket_errors.group(4))
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rate=float(rate.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        errors=errors,
    )


def run_wrk(url: str, *, seconds: float, connections: int, script: Path | None = None) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise payments.BenchFailed("wrk is not installed: apt-get install -y wrk")
    argv = [wrk, "--threads", "2", "--connections", str(connections), "--duration", f"{seconds:g}s"]
    argv += ["--latency", "--timeout", "10s"]
    if script is not None:
        argv += ["--script", str(script)]
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0 or (script is not None and str(script) in done.stdout + done.stderr):
        # A script wrk cannot load is reported, and wrk then sends plain GET / instead: never a figure.
        raise payments.BenchFailed(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- wrk scripts ----------------------------------------------------------------------------------------

#: Each thread numbers itself, so every request can carry a key no other request has.
_THREADS_LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
"""


def insert_script(run: str) -> str:
    return (
        _THREADS_LUA
        + f"""
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/insert", {{["Content-Type"] = "text/plain"}}, "{run}-" .. tid .. "-" .. n)
end
"""
    )


def session_create_script(run: str, secret_key: str) -> str:
    return (
        _THREADS_LUA
        + f"""
local n = 0
request = function()
  n = n + 1
  local headers = {{
    ["Authorization"] = "Bearer {secret_key}",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "{run}-" .. tid .. "-" .. n,
  }}
  return wrk.format("POST", "/api/v1/checkout/sessions", headers, {json.dumps(SESSION_BODY)})
end
"""
    )


def confirm_script(lines_file: Path, threads: int = 2) -> str:
    """Each request confirms another open session (path and form body per line of `lines_file`), from a
    shopper address of its own in 198.18.0.0/15 (the benchmarking range; only a header, through the one
    trusted proxy hop), so neither the per-session nor the per-address attempt limit is what is measured."""
    return (
        _THREADS_LUA
        + f"""
local lines = {{}}
local i = 0
init = function(args)
  for line in io.lines("{lines_file}") do table.insert(lines, line) end
  i = tid - {threads}
end
request = function()
  i = i + {threads}
  local line = lines[((i - 1) % #lines) + 1]
  local path, body = line:match("^([^\\t]+)\\t(.*)$")
  local headers = {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Forwarded-For"] = "198.18." .. (math.floor(i / 250) % 250) .. "." .. (i % 250 + 1),
  }}
  return wrk.format("POST", path, headers, body)
end
"""
    )


# --- the benchmark's tenant and environment ------------------------------------------------------------


def kassa_env(target: payments.Target, workdir: Path) -> dict[str, str]:
    """Production settings: fresh secrets, an https base URL (the benchmark talks plain HTTP to gunicorn
    on loopback, as a TLS-terminating proxy would) and one trusted proxy hop."""
    env = dict(target.env)
    env.update(
        KASSA_ENV="production",
        KASSA_SECRET_KEY=secrets.token_urlsafe(48),
        KASSA_BASE_URL="https://checkout.bench.invalid",
        KASSA_TRUSTED_PROXIES="1",
        KASSA_MAIL_URL="smtp://127.0.0.1:1",
        KASSA_MAIL_FROM="Kassa bench <bench@bench.invalid>",
        KASSA_LOG_LEVEL="WARNING",
    )
    if env.get("KASSA_MASTER_KEY") == payments.DEV_MASTER_KEY:
        env["KASSA_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    env["BENCH_CEILING_DATABASE_URL"] = target.settings.database_url
    return env


def open_sessions(rt: runtime_module.Runtime, tenant_id: str) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(
            uow.session.scalars(
                select(CheckoutSession.id).where(
                    CheckoutSession.status == SessionStatus.OPEN, CheckoutSession.payment_id.is_(None)
                )
            )
        )


def clone_sessions(rt: runtime_module.Runtime, tenant_id: str, template_id: str, count: int) -> list[str]:
    """`count` open sessions copied from one the API made (new ids, same fields): fixtures for the confirm
    phase, made in bulk (not timed, not audited) because one request per confirm would be the bottleneck."""
    table = CheckoutSession.__table__
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        row = uow.session.execute(select(table).where(table.c.id == template_id)).mappings().one()
        ids = [new_id("cs") for _ in range(count)]
        uow.session.execute(insert(table), [{**row, "id": session_id} for session_id in ids])
    return ids


def payments_made(rt: runtime_module.Runtime, tenant_id: str, *, status: PaymentStatus | None = None) -> int:
    """The tenant's payments, or only those in `status`."""
    counted = select(func.count()).select_from(Payment)
    if status is not None:
        counted = counted.where(Payment.status == status)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return int(uow.session.scalar(counted) or 0)


def csrf_token(secret_key: str, session_id: str) -> str:
    """The checkout form's token (checkout/csrf.py), made as the page would make it."""
    issued = int(time.time())
    message = f"checkout-csrf:{session_id}:{issued}".encode()
    return f"{issued}.{hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()}"


def write_confirm_lines(path: Path, secret_key: str, session_ids: list[str]) -> None:
    with path.open("w") as out:
        for session_id in session_ids:
            body = urlencode({"csrf_token": csrf_token(secret_key, session_id), **CARD_FORM, "name": "Ada"})
            out.write(f"/pay/{session_id}\t{body}\n")


def gunicorn_sync(
    label: str, app: str, *, port: int, workers: int, env: dict[str, str], log: Path
) -> Gunicorn:
    """`app` under gunicorn with `workers` sync workers on HOST:`port`; started when its block is entered."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    argv = [
        str(gunicorn if gunicorn.exists() else shutil.which("gunicorn") or "gunicorn"),
        app,
        *("--bind", f"{HOST}:{port}", "--workers", str(workers), "--worker-class", "sync"),
        *("--chdir", str(ROOT), "--log-level", "warning"),
    ]
    return Gunicorn(label, argv, port=port, env=env, log=log)


def commit_id() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT)
    head = done.stdout.strip() or "unknown"
    return f"{head}-dirty" if dirty.stdout.strip() else head


# --- the run --------------------------------------------------------------------------------------------


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(2, 120), help="Per round.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--connections", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="gunicorn workers.")
@click.option(
    "--payments",
    "payment_count",
    default=400,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="Payments end to end with 2 workers (0: skip that phase).",
)
@click.option(
    "--confirm-pool",
    default=3000,
    show_default=True,
    type=click.IntRange(10, 1_000_000),
    help="Open sessions made for each confirm round; more than the confirms one round can make.",
)
@click.option("--in-process", is_flag=True, help="Workers run jobs in process (both sides).")
@click.option(
    "--loop-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds of the whole loop (session, page, confirm, worker, webhook; bench/loop.py); 0 skips it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON file (default bench/results/<commit>.json).",
)
def command(
    seconds: float,
    rounds: int,
    connections: int,
    workers: int,
    payment_count: int,
    confirm_pool: int,
    in_process: bool,
    loop_seconds: float,
    out: Path | None,
) -> None:
    target = payments.preflight(os.environ, sandbox_latency_ms=0)
    pg_version = payments.check_database(target.settings)
    client = redis.Redis.from_url(target.redis_url)
    payments.claim_redis(client, target.redis_db)
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-suite-"))
    env = kassa_env(target, workdir)
    settings = target.settings
    click.echo("Migrating the benchmark's database …", err=True)
    upgrade(settings)
    engine = make_engine(settings.database_url)
    ceiling_app.METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE bench_ceiling"))
    engine.dispose()
    kassa_settings = Settings.from_env(env)
    # The workers of the payments phase open the vault this process wrote to: one environment for all.
    target = replace(target, env=env, settings=kassa_settings)
    rt = runtime_module.configure(kassa_settings)
    ok = False
    started = time.monotonic()
    load_before = payments._load_average()
    try:
        tenant_id, secret_key = payments.create_bench_tenant(
            rt, name="Kassa bench", slug_suffix=f"{payments.bench_stamp()}-http"
        )
        pairs: dict[str, list[tuple[WrkResult, WrkResult]]] = {"page": [], "create": [], "confirm": []}
        memory: dict[str, list[float]] = {}
        ceiling_port, kassa_port = free_port(), free_port()
        with (
            gunicorn_sync(
                "ceilings",
                "bench.ceiling_app:create_app()",
                port=ceiling_port,
                workers=workers,
                env=env,
                log=workdir / "ceilings.log",
            ) as ceilings,
            gunicorn_sync(
                "kassa",
                "wsgi:create_app()",
                port=kassa_port,
                workers=workers,
                env=env,
                log=workdir / "kassa.log",
            ) as kassa,
        ):
            ceilings.wait_ready("/hello")
            kassa.wait_ready("/healthz")
            ceiling_url, kassa_url = f"http://{HOST}:{ceiling_port}", f"http://{HOST}:{kassa_port}"
            # One session to GET: made through the API, as a merchant's server would.
            seed = workdir / "seed.lua"
            seed.write_text(session_create_script("seed", secret_key))
            run_wrk(kassa_url, seconds=2, connections=2, script=seed)
            page = f"/pay/{open_sessions(rt, tenant_id)[0]}"
            kassa.wait_ready(page)
            for number in range(1, rounds + 1):
                click.echo(f"Round {number} of {rounds} ({seconds:g} s per figure) …", err=True)
                hello = run_wrk(f"{ceiling_url}/hello", seconds=seconds, connections=connections)
                got = run_wrk(f"{kassa_url}{page}", seconds=seconds, connections=connections)
                pairs["page"].append((hello, got))
                run = f"r{number}-{secrets.token_hex(3)}"
                script = workdir / f"insert-{number}.lua"
                script.write_text(insert_script(run))
                inserted = run_wrk(ceiling_url, seconds=seconds, connections=connections, script=script)
                script = workdir / f"create-{number}.lua"
                script.write_text(session_create_script(run, secret_key))
                created = run_wrk(kassa_url, seconds=seconds, connections=connections, script=script)
                pairs["create"].append((inserted, created))
                lines = workdir / f"confirm-{number}.txt"
                fresh = clone_sessions(rt, tenant_id, page.removeprefix("/pay/"), confirm_pool)
                write_confirm_lines(lines, env["KASSA_SECRET_KEY"], fresh)
                script = workdir / f"confirm-{number}.lua"
                script.write_text(confirm_script(lines))
                inserted = run_wrk(
                    ceiling_url,
                    seconds=seconds,
                    connections=connections,
                    script=workdir / f"insert-{number}.lua",
                )
                before = payments_made(rt, tenant_id)
                confirmed = run_wrk(kassa_url, seconds=seconds, connections=connections, script=script)
                made = payments_made(rt, tenant_id) - before
                # Only a confirm that made its payment counts: an answer for a session already paid
                # (the pool ran out and wrapped around) is fast and would flatter the figure.
                confirmed.errors += max(0, confirmed.requests - made)
                confirmed.rate = round(made / confirmed.seconds, 2)
                pairs["confirm"].append((inserted, confirmed))
            select1 = run_wrk(f"{ceiling_url}/select1", seconds=seconds, connections=connections)
            assert kassa.proc is not None
            assert ceilings.proc is not None
            memory["kassa web worker"] = children_current_rss_mb(kassa.proc.pid)
            memory["ceiling web worker"] = children_current_rss_mb(ceilings.proc.pid)
        client.flushdb()  # the confirms' queued payment jobs: no worker ran them
        payments.claim_redis(client, target.redis_db)
        pay_figures: dict[str, Any] | None = None
        if payment_count:
            pay_figures = payments_phase(target, rt, payment_count, in_process=in_process, workdir=workdir)
        loop_figures: dict[str, Any] | None = None
        if loop_seconds:
            from bench.loop import run_loop

            client.flushdb()
            payments.claim_redis(client, target.redis_db)
            click.echo(f"The whole loop for {loop_seconds:g} s …", err=True)
            loop_figures = run_loop(
                target, seconds=loop_seconds, shoppers=8, web_workers=workers, workdir=workdir
            )
            memory["kassa web worker, after the loop"] = loop_figures["rss_mb_web_workers"]
            memory["kassa worker, after the loop"] = loop_figures["rss_mb_kassa_workers"]
        results = summarise(pairs, select1=select1, memory=memory, pay=pay_figures, loop=loop_figures)
        header = {
            "commit": commit_id(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{machine()}; PostgreSQL {pg_version}",
            "load_average_before": load_before,
            "load_average_after": payments._load_average(),
            "gunicorn": f"{workers} sync workers, wrk --threads 2 --connections {connections}",
            "rounds": rounds,
            "seconds_per_round": seconds,
            "wall_seconds": round(time.monotonic() - started, 1),
        }
        report(header, results)
        errors = [f"{k}: {v['errors']} errors" for k, v in results["figures"].items() if v.get("errors")]
        path = out or RESULTS / f"{header['commit']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**header, **results}, indent=2) + "\n")
        click.echo(f"\nWritten to {path}", err=True)
        if errors:
            raise payments.BenchFailed("Some requests failed: " + "; ".join(errors))
        ok = True
    finally:
        rt.db.dispose()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            click.echo(f"Logs kept in {workdir}", err=True)


def payments_phase(
    target: payments.Target, rt: runtime_module.Runtime, count: int, *, in_process: bool, workdir: Path
) -> dict[str, Any]:
    tenant_ids = payments.create_tenants(rt, 1)
    checkout = payments.create_sessions(rt, tenant_ids, count)
    client = redis.Redis.from_url(target.redis_url)
    logdir = workdir / "workers"
    logdir.mkdir()
    noop = payments.measure_noop(target, client, count, logdir=logdir, timeout=300, in_process=in_process)
    pay = payments.measure_payments(
        target, rt, tenant_ids, checkout, logdir=logdir, timeout=300, in_process=in_process
    )
    return {
        "kassa": {
            "rate": round(pay.rate, 2),
            "confirm_to_succeeded_p50_ms": round(payments.percentile(pay.latencies, 50) * 1000, 1),
            "confirm_to_succeeded_p99_ms": round(payments.percentile(pay.latencies, 99) * 1000, 1),
            "job_p50_ms": round(payments.percentile(pay.run_times, 50) * 1000, 1),
            "errors": sum(pay.problems.values()),
        },
        "ceiling": {"rate": round(noop.rate, 2), "errors": sum(noop.problems.values())},
        "workers": "in process (SimpleWorker)" if in_process else "a forked work horse per job",
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def summarise(
    pairs: dict[str, list[tuple[WrkResult, WrkResult]]],
    *,
    select1: WrkResult,
    memory: dict[str, list[float]],
    pay: dict[str, Any] | None,
    loop: dict[str, Any] | None = None,
) -> dict[str, Any]:
    names = {
        "page": ("hosted page GET", "hello-world Flask GET"),
        "create": ("session create POST", "Core INSERT + COMMIT POST"),
        "confirm": ("confirm POST", "Core INSERT + COMMIT POST"),
    }
    figures: dict[str, Any] = {}
    for key, rounds in pairs.items():
        kassa_name, ceiling_name = names[key]
        kassa_rate = _median([k.rate for _, k in rounds])
        ceiling_rate = _median([c.rate for c, _ in rounds])
        figures[kassa_name] = {
            "rate": kassa_rate,
            "p50_ms": _median([k.p50_ms for _, k in rounds]),
            "p99_ms": _median([k.p99_ms for _, k in rounds]),
            "ceiling": ceiling_name,
            "ceiling_rate": ceiling_rate,
            "ratio": round(kassa_rate / ceiling_rate, 3) if ceiling_rate else None,
            "rounds": [asdict(k) for _, k in rounds],
            "errors": sum(k.errors for _, k in rounds) + sum(c.errors for c, _ in rounds),
        }
    figures["SELECT 1 GET (ceiling)"] = {
        "rate": select1.rate,
        "p50_ms": select1.p50_ms,
        "errors": select1.errors,
    }
    if pay is not None:
        figures["payments end to end, 2 workers"] = {
            **pay["kassa"],
            "ceiling": f"RQ no-op jobs, 2 workers, {pay['workers']}",
            "ceiling_rate": pay["ceiling"]["rate"],
            "ratio": round(pay["kassa"]["rate"] / pay["ceiling"]["rate"], 3)
            if pay["ceiling"]["rate"]
            else None,
            "errors": pay["kassa"]["errors"] + pay["ceiling"]["errors"],
        }
    if loop is not None:
        figures[f"whole loop, {loop['seconds']:g} s (payments)"] = {
            "rate": loop["payments_per_second"],
            "confirm_to_succeeded_p50_ms": loop["confirm_to_succeeded_p50_ms"],
            "confirm_to_succeeded_p99_ms": loop["confirm_to_succeeded_p99_ms"],
            "errors": loop["errors"],
            "detail": loop,
        }
        figures["whole loop: webhook deliveries"] = {
            "rate": loop["deliveries_per_second"],
            "errors": 0,
        }
    return {
        "figures": figures,
        "resident_memory_mb": {k: [round(v, 1) for v in vs] for k, vs in memory.items()},
    }


def report(header: dict[str, Any], results: dict[str, Any]) -> None:
    click.echo("")
    for key, value in header.items():
        click.echo(f"  {key:22} {value}")
    click.echo("")
    click.echo(
        f"  {'figure':34} {'per s':>9} {'p50':>9} {'p99':>9}   {'ceiling':30} {'per s':>9} {'ratio':>7}"
    )
    for name, f in results["figures"].items():
        p50 = f.get("p50_ms", f.get("confirm_to_succeeded_p50_ms"))
        p99 = f.get("p99_ms", f.get("confirm_to_succeeded_p99_ms"))
        click.echo(
            f"  {name:34} {f['rate']:>9,.1f} {_fmt_ms(p50):>9} {_fmt_ms(p99):>9}   "
            f"{f.get('ceiling', ''):30.30} {_fmt_rate(f.get('ceiling_rate')):>9} "
            f"{_fmt_ratio(f.get('ratio')):>7}"
        )
    for name, sizes in results["resident_memory_mb"].items():
        shown = ", ".join(f"{s:.0f} MB" for s in sizes) or "—"
        click.echo(f"  resident memory, {name}: {shown}")


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _fmt_rate(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
