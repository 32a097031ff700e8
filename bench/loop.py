"""`python -m bench loop`: the whole loop sustained — session → page → confirm → worker → webhook.

For `--seconds` (60 by default), `--shoppers` threads each repeat what a merchant's server and a shopper
do, over real HTTP against gunicorn (`--web-workers` sync workers): create a checkout session through the
API, open the hosted page, pay it with the test card. Two `kassa worker` processes (the default worker
class) process the payments and deliver the `payment.succeeded` webhooks to a receiver on 127.0.0.1.
After the window it waits for the last payments and deliveries, then prints and returns:

- loops completed in the window and payments/s (succeeded payments over the window), deliveries/s;
- errors: any answer other than 2xx/3xx, a payment not succeeded, a delivery missing (each fails the run);
- confirm → succeeded p50/p99 (the payment's status history);
- the resident memory of every web worker and every `kassa worker` after the loop.

Settings: those of `make bench` (fresh secrets and master key, one trusted proxy hop, shoppers from
addresses in 198.18.0.0/15) except `KASSA_ENV`: production refuses webhook endpoints on loopback (the
SSRF protection), so the loop runs in development mode with `KASSA_WEBHOOKS_ALLOW_PRIVATE=1` — the same
code on every path. No cron: the relay runs after each commit, and nothing here needs a retry.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
import httpx
import redis
from sqlalchemy import select

from bench import payments
from bench.hosted_page import HOST, free_port
from core.config import Settings
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.jobs.queues import QUEUE_NAMES
from core.memory import children_current_rss_mb, current_rss_mb
from core.payments.models import Payment, PaymentStatus, PaymentStatusChange
from core.webhooks import service as webhooks
from tests.webhooks_helpers import open_policy, receiver

SESSION_BODY = {"amount": 2500, "currency": "EUR", "description": "Coffee beans, 1 kg"}


@dataclass
class Loop:
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _shopper(base: str, secret_key: str, app_secret: str, deadline: float, loop: Loop, seed: int) -> None:
    from bench.suite import CARD_FORM, csrf_token

    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=30.0) as client:
        while time.monotonic() < deadline:
            address = f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            try:
                made = client.post(
                    "/api/v1/checkout/sessions",
                    json=SESSION_BODY,
                    headers={"Authorization": f"Bearer {secret_key}", "Idempotency-Key": uuid.uuid4().hex},
                )
                if made.status_code != 201:
                    raise RuntimeError(f"session create answered {made.status_code}: {made.text[:200]}")
                session_id = made.json()["id"]
                page = client.get(f"/pay/{session_id}", headers={"X-Forwarded-For": address})
                if page.status_code != 200:
                    raise RuntimeError(f"hosted page answered {page.status_code}")
                form = {"csrf_token": csrf_token(app_secret, session_id), **CARD_FORM, "name": "Ada"}
                paid = client.post(
                    f"/pay/{session_id}",
                    content=urlencode(form),
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Forwarded-For": address,
                    },
                )
                if paid.status_code >= 400:
                    raise RuntimeError(f"confirm answered {paid.status_code}")
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as problem:
                with loop.lock:
                    loop.errors.append(str(problem))
                continue
            with loop.lock:
                loop.completed += 1
                loop.sessions.append(session_id)


def run_loop(
    target: payments.Target,
    *,
    seconds: float,
    shoppers: int,
    web_workers: int,
    workdir: Path,
) -> dict[str, Any]:
    """The loop on `target`'s database and Redis with `target.env` (make bench's settings); its figures."""
    from bench.suite import gunicorn_sync, payments_made

    port = free_port()
    env = {
        **target.env,
        "KASSA_ENV": "development",
        "KASSA_WEBHOOKS_ALLOW_PRIVATE": "1",
        "KASSA_BASE_URL": f"http://{HOST}:{port}",
    }
    rt = runtime_module.configure(Settings.from_env(env))
    tenant_id, secret_key = payments.create_bench_tenant(
        rt, name="Kassa loop bench", slug_suffix=f"{payments.bench_stamp()}-loop"
    )
    with receiver() as hooks:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            webhooks.create_endpoint(
                uow.session,
                rt.context(uow, Actor.system("bench")),
                tenant_id=tenant_id,
                livemode=False,
                url=hooks.url,
                events=["payment.succeeded"],
                policy=open_policy(),
            )
        with (
            gunicorn_sync(
                "kassa",
                "wsgi:create_app()",
                port=port,
                workers=web_workers,
                env=env,
                log=workdir / "loop-kassa.log",
            ) as web,
            # `kassa worker` on every queue, as deployed (its default worker class: jobs in process).
            payments.Workers(
                "loop",
                payments.kassa_worker_argv(in_process=True, queues=QUEUE_NAMES),
                env=env,
                logdir=workdir,
            ) as workers,
        ):
            web.wait_ready("/healthz")
            loop = Loop()
            started = time.monotonic()
            deadline = started + seconds
            threads = [
                threading.Thread(
                    target=_shopper,
                    args=(f"http://{HOST}:{port}", secret_key, env["KASSA_SECRET_KEY"], deadline, loop, n),
                    daemon=True,
                )
                for n in range(shoppers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(seconds + 60)
            window = time.monotonic() - started
            # The last payments and their deliveries, bounded.
            drain_deadline = time.monotonic() + 120
            while time.monotonic() < drain_deadline:
                workers.check_alive()
                settled = payments_made(rt, tenant_id, status=PaymentStatus.SUCCEEDED)
                if len(hooks.received) >= loop.completed and settled >= loop.completed:
                    break
                time.sleep(0.25)
            drained = time.monotonic() - started - window
            assert web.proc is not None
            web_rss = children_current_rss_mb(web.proc.pid)
            worker_rss = [current_rss_mb(proc.pid) for proc in workers.procs]
    succeeded, latencies = _outcomes(rt, tenant_id)
    missing = max(0, succeeded - len(hooks.received))
    not_succeeded = loop.completed - succeeded
    rt.db.dispose()
    latencies.sort()
    figures = {
        "seconds": round(window, 1),
        "shoppers": shoppers,
        "web_workers": web_workers,
        "loops_completed": loop.completed,
        "payments_succeeded": succeeded,
        "payments_per_second": round(succeeded / window, 2),
        "webhook_deliveries": len(hooks.received),
        "deliveries_per_second": round(len(hooks.received) / window, 2),
        "drain_seconds": round(drained, 1),
        "errors": len(loop.errors) + max(0, not_succeeded) + missing,
        "error_samples": loop.errors[:5],
        "confirm_to_succeeded_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "confirm_to_succeeded_p99_ms": (
            round(1000 * payments.percentile(latencies, 99), 1) if latencies else None
        ),
        "rss_mb_web_workers": [round(v) for v in web_rss],
        "rss_mb_kassa_workers": [round(v) for v in worker_rss if v is not None],
    }
    return figures


def _outcomes(rt: runtime_module.Runtime, tenant_id: str) -> tuple[int, list[float]]:
    """Succeeded payments, and each one's seconds from the payment's creation (the confirm) to succeeded."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        rows = uow.session.execute(
            select(Payment.created_at, PaymentStatusChange.created_at)
            .join(
                PaymentStatusChange,
                (PaymentStatusChange.tenant_id == Payment.tenant_id)
                & (PaymentStatusChange.payment_id == Payment.id),
            )
            .where(PaymentStatusChange.status == PaymentStatus.SUCCEEDED)
        ).all()
    return len(rows), [(done - made).total_seconds() for made, done in rows]


@click.command(help=__doc__.split("\n\n", 1)[0] if __doc__ else None)
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(5, 600))
@click.option("--shoppers", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--web-workers", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def command(seconds: float, shoppers: int, web_workers: int, as_json: bool) -> None:
    import os
    import shutil
    import tempfile

    from bench.suite import kassa_env
    from core.migrate import upgrade

    target = payments.preflight(os.environ, sandbox_latency_ms=0)
    payments.check_database(target.settings)
    payments.claim_redis(redis.Redis.from_url(target.redis_url), target.redis_db)
    workdir = Path(tempfile.mkdtemp(prefix="kassa-bench-loop-"))
    upgrade(target.settings)
    target = dataclasses.replace(target, env=kassa_env(target, workdir))
    figures = run_loop(target, seconds=seconds, shoppers=shoppers, web_workers=web_workers, workdir=workdir)
    if as_json:
        click.echo(json.dumps(figures))
    else:
        for key, value in figures.items():
            click.echo(f"{key:32} {value}")
    if figures["errors"]:
        raise payments.BenchFailed(f"the loop had {figures['errors']} errors (logs in {workdir})")
    shutil.rmtree(workdir, ignore_errors=True)
