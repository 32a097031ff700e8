"""`python -m bench reports`: report speed on a large history, beside the raw SQL aggregate.

Seeds `--tenants` tenants with `--payments` payments in all (core/reports/seed.py, a year each, in bulk),
rebuilds their rollups (`kassa reports rebuild`'s code), then for one tenant and the whole year measures,
each `--runs` times, in one run:

- the raw aggregate: `GROUP BY day, status` over that tenant's payments (count and sum), as the
  application role under row-level security, the way a report without rollups would read;
- `GET /api/v1/reports/summary?from=…&to=…&group_by=month` (in-process, the Flask test client);
- `GET /portal/reports?from=…&to=…` signed in (every section, charts and tables);
- a CSV export of every payment of the tenant (peak RSS of this process before and after).

Prints the medians and the ratios to the raw aggregate (the issue's bar: summary at most 0.1x, page at
most 0.2x).
Needs PostgreSQL in DATABASE_URL/DATABASE_APP_URL (its own database: it writes a lot) and Redis.
"""

from __future__ import annotations

import resource
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import click
from sqlalchemy import text

from core.config import Settings
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.reports import seed as seeding
from core.reports import service
from tenants import portal_sessions
from tenants.service import create_tenant, create_user

BENCH = Actor.system("bench")
RAW = """
SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, status, count(*), sum(amount)
FROM payments WHERE tenant_id = :t AND livemode = false AND created_at >= :start AND created_at < :end
GROUP BY 1, 2
"""


def _median(runs: int, call: Callable[[], object]) -> float:
    call()  # warm caches and the pool once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@click.command(help=__doc__.split("\n\n", 1)[0] if __doc__ else None)
@click.option("--payments", default=100_000, show_default=True, help="Payments in all, over the tenants.")
@click.option("--tenants", default=1, show_default=True, help="Tenants to spread them over.")
@click.option("--runs", default=15, show_default=True, help="Timed runs of each question.")
def command(payments: int, tenants: int, runs: int) -> None:
    from wsgi import create_app

    settings = Settings.from_env()
    if not settings.database_url.startswith("postgresql"):
        raise click.ClickException("the reports benchmark needs PostgreSQL in DATABASE_URL")
    rt = runtime_module.configure(settings)
    app = create_app(settings, runtime=rt)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ids: list[tuple[str, str]] = []
    with rt.db.unit_of_work() as uow:
        for n in range(tenants):
            tenant, keys = create_tenant(
                uow.session,
                rt.context(uow, BENCH),
                name=f"Reports bench {stamp} #{n + 1}",
                slug=f"bench-reports-{stamp}-{n + 1}",
                country="DE",
                currency="EUR",
            )
            ids.append((tenant.id, keys.secret_key))
    each = max(1, payments // tenants)
    started = time.monotonic()
    with click.progressbar(length=each * tenants, label="seeding", show_eta=True) as bar:
        for tenant_id, _key in ids:
            last = 0
            for done in seeding.seed(
                rt.db, tenant_id=tenant_id, payments=each, now=rt.clock.now(), currencies=("EUR", "USD")
            ):
                bar.update(done - last)
                last = done
    seeded = time.monotonic() - started
    started = time.monotonic()
    with click.progressbar(length=each * tenants, label="rebuilding", show_eta=True) as bar:
        for tenant_id, _key in ids:
            for done in service.rebuild(rt, tenant_id=tenant_id, actor=BENCH):
                bar.update(done)
    rebuilt = time.monotonic() - started

    tenant_id, secret = ids[0]
    end = rt.clock.now().date()
    start = end - timedelta(days=364)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        user = create_user(
            uow.session,
            rt.context(uow, BENCH),
            tenant_id=tenant_id,
            email=f"analyst-{stamp}@bench.example",
            role="analyst",
            password=secrets.token_urlsafe(24),  # signed in below through a portal session instead
            totp_secret=None,
        )
        token = portal_sessions.start(
            uow.session,
            user_id=user.id,
            tenant_id=tenant_id,
            ip="127.0.0.1",
            user_agent="bench",
            clock=rt.clock,
        )

    def raw() -> None:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            uow.session.execute(
                text(RAW),
                {"t": tenant_id, "start": start.isoformat(), "end": (end + timedelta(days=1)).isoformat()},
            ).all()

    api = app.test_client()
    portal = app.test_client()
    with portal.session_transaction() as cookie:
        cookie["sid"] = token
    summary_url = f"/api/v1/reports/summary?from={start}&to={end}&group_by=month"
    page_url = f"/portal/reports?from={start}&to={end}"
    assert api.get(summary_url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert portal.get(page_url).status_code == 200

    def summary() -> None:
        api.get(summary_url, headers={"Authorization": f"Bearer {secret}"})

    def page() -> None:
        portal.get(page_url)

    raw_s = _median(runs, raw)
    summary_s = _median(runs, summary)
    page_s = _median(runs, page)
    before = _rss_mb()
    export_started = time.monotonic()
    response = portal.get(f"/portal/reports/export/payments.csv?from={start}&to={end}", buffered=False)
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    export_s = time.monotonic() - export_started
    after = _rss_mb()
    click.echo(f"tenants {tenants}, payments {each * tenants} ({each} per tenant), a year each")
    click.echo(
        f"seed {seeded:.1f} s, rebuild {rebuilt:.1f} s ({each * tenants / max(rebuilt, 1e-9):.0f} payments/s)"
    )
    click.echo(f"raw GROUP BY day, status (median of {runs}):  {raw_s * 1000:8.1f} ms")
    click.echo(
        f"GET /api/v1/reports/summary (year, month): {summary_s * 1000:8.1f} ms  {summary_s / raw_s:.3f}x raw"
    )
    click.echo(
        f"GET /portal/reports (year, every section):  {page_s * 1000:8.1f} ms  {page_s / raw_s:.3f}x raw"
    )
    click.echo(
        f"payments CSV export: {lines - 1} rows in {export_s:.1f} s; "
        f"peak RSS {before:.0f} MB before, {after:.0f} MB after"
    )
