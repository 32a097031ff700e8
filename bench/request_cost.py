"""What one request costs in process: SQL statements and CPU time of the hosted page GET and session create.

Load benchmarks on this shared 2-core machine move with whatever else runs on it; the number of SQL
statements a request sends does not, and CPU time per request in one process moves far less than a
requests/s figure. This benchmark drives the real app through Flask's test client (no gunicorn, no
sockets):

- `POST /api/v1/checkout/sessions` with a secret test key and a fresh `Idempotency-Key` each time
  (key check, validation, idempotency record, the session, audit, event, outbox: one transaction);
- `GET /pay/<cs>` of an open session (tenant and session lookup, locality rules, the card form).

Each is run `--requests` times after `--warmup` untimed ones; it prints the SQL statements per request
(counted with a SQLAlchemy `before_cursor_execute` hook on every engine of the app: each one is a round
trip to the server) and the median and p90 CPU time of the process per request.

Database: a fresh SQLite file by default; `--database-url` takes a PostgreSQL database whose name starts
with `kassa_bench` (the run adds a tenant to it). For an instruction count that other load cannot move,
run it under callgrind (`valgrind --tool=callgrind python -m bench request_cost --requests N`) twice with
two values of N and divide the difference.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import event

from bench.hosted_page import BenchFailed, database_url_for
from core.config import ConfigurationError, Settings
from core.jobs import runtime as runtime_module
from core.migrate import upgrade
from wsgi import create_app

SESSION_BODY = {"amount": 2500, "currency": "EUR", "description": "Coffee beans, 1 kg"}


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any, **_kwargs: Any) -> None:
        self.count += 1


def _measure(
    label: str, call: Callable[[], None], counter: StatementCounter, *, requests: int, warmup: int
) -> dict[str, Any]:
    for _ in range(warmup):
        call()
    cpu: list[float] = []
    statements: list[int] = []
    for _ in range(requests):
        before_statements = counter.count
        started = time.process_time()
        call()
        cpu.append(time.process_time() - started)
        statements.append(counter.count - before_statements)
    cpu.sort()
    if not cpu:
        return {
            "request": label,
            "sql_statements": 0,
            "sql_statements_max": 0,
            "cpu_ms_p50": 0,
            "cpu_ms_p90": None,
        }
    return {
        "request": label,
        "sql_statements": statistics.median(statements),
        "sql_statements_max": max(statements),
        "cpu_ms_p50": round(statistics.median(cpu) * 1000, 2),
        "cpu_ms_p90": round(cpu[int(len(cpu) * 0.9) - 1] * 1000, 2) if len(cpu) >= 10 else None,
    }


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--requests", default=200, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--warmup", default=20, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--database-url", default=None, help="PostgreSQL database kassa_bench… (default: SQLite).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--only",
    type=click.Choice(["page", "create"]),
    default=None,
    help="Measure one request only (for callgrind: run N and 0 requests, divide the difference by N).",
)
def command(requests: int, warmup: int, database_url: str | None, as_json: bool, only: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-cost-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_APP_URL")}
        env.update(
            DATABASE_URL=database_url_for(database_url, workdir),
            KASSA_ENV="development",
            KASSA_LOG_LEVEL="WARNING",
            KASSA_MAIL_URL=f"file:{workdir / 'mail'}",
        )
        env.setdefault("REDIS_URL", "fakeredis://")
        try:
            settings = Settings.from_env(env)
        except ConfigurationError as exc:
            raise BenchFailed(str(exc)) from None
        upgrade(settings)
        runtime = runtime_module.configure(settings)
        app = create_app(settings, runtime=runtime)
        slug = f"bench-cost-{secrets.token_hex(4)}"
        result = app.test_cli_runner().invoke(
            args=[
                *("tenants", "create", "--name", "Bean There Coffee", "--slug", slug),
                *("--country", "DE", "--currency", "EUR", "--json"),
            ]
        )
        if result.exit_code != 0:
            raise BenchFailed(f"kassa tenants create failed: {result.output}")
        secret_key = json.loads(result.output)["secret_key"]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret_key}"}

        def create_session() -> str:
            response = client.post(
                "/api/v1/checkout/sessions",
                json=SESSION_BODY,
                headers={**headers, "Idempotency-Key": secrets.token_hex(16)},
            )
            if response.status_code != 201:
                answer = response.get_data(as_text=True)
                raise BenchFailed(f"session create answered {response.status_code}: {answer}")
            return str(response.get_json()["id"])

        page = f"/pay/{create_session()}"

        def create_one() -> None:
            create_session()

        def get_page() -> None:
            response = client.get(page)
            if response.status_code != 200 or b"Card number" not in response.data:
                raise BenchFailed(f"GET {page} answered {response.status_code} without the card form")

        counter = StatementCounter()
        engines = {id(e): e for e in (runtime.db.engine, runtime.db.owner_engine)}
        for engine in engines.values():
            event.listen(engine, "before_cursor_execute", counter)
        figures = []
        if only in (None, "page"):
            figures.append(_measure("GET /pay/<cs>", get_page, counter, requests=requests, warmup=warmup))
        if only in (None, "create"):
            figures.append(
                _measure(
                    "POST /api/v1/checkout/sessions", create_one, counter, requests=requests, warmup=warmup
                )
            )
        backend = "PostgreSQL" if settings.database_url.startswith("postgresql") else "SQLite"
        if as_json:
            click.echo(json.dumps({"database": backend, "requests": requests, "figures": figures}, indent=2))
        else:
            click.echo(f"{backend}, {requests} requests each after {warmup} untimed, Flask test client")
            click.echo(f"  {'request':34} {'SQL statements':>15} {'CPU p50':>9} {'CPU p90':>9}")
            for f in figures:
                click.echo(
                    f"  {f['request']:34} {f['sql_statements']:>15} {f['cpu_ms_p50']:>7} ms"
                    f" {f['cpu_ms_p90'] or '-':>6} ms"
                )
        runtime.db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
