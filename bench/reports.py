"""`python -m bench reports`: report speed on a large history, beside the raw SQL aggregate.

Seeds `--tenants` tenants with `--payments` payments in all (core/reports/seed.py, a year each, in bulk;
`--reuse` measures the tenants a previous run seeded in the same database instead), rebuilds the
measured tenant's rollups (`kassa reports rebuild`'s code; `--rebuild-all`: every tenant's), then for
that tenant and the whole year measures, `--runs` rounds of each in turn (raw, summary, page, shoppers,
raw, summary, …: the shared machine's load falls on all of them alike):

- the raw aggregate: `GROUP BY day, status` over that tenant's payments (count and sum), as the
  application role under row-level security, the way a report without rollups would read;
- `GET /api/v1/reports/summary?from=…&to=…&group_by=month` (in-process, the Flask test client);
- `GET /portal/reports?from=…&to=…` signed in (every section, charts and tables);
- the shopper figures alone (`queries.customers`: new vs returning, repeat rate, top shoppers);
- two floors: the cheapest authenticated API GET (`/api/v1/payments?limit=1`) and the portal home page;
- a CSV export of every payment of the tenant (peak RSS of this process before and after).

Prints the medians and the ratios to the raw aggregate's median (the issue's bar: summary at most 0.1x,
page at most 0.2x) and writes them to `bench/results/<commit>-reports.json` (or `--out`).
Needs PostgreSQL in DATABASE_URL/DATABASE_APP_URL (its own database: it writes a lot) and Redis.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select, text

from core.config import Settings
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.memory import peak_rss_mb
from core.reports import queries, service
from core.reports import seed as seeding
from tenants import portal_sessions
from tenants.models import KeyKind, KeyMode, Tenant
from tenants.service import create_tenant, create_user, issue_key

BENCH = Actor.system("bench")
RAW = """
SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, status, count(*), sum(amount)
FROM payments WHERE tenant_id = :t AND livemode = false AND created_at >= :start AND created_at < :end
GROUP BY 1, 2
"""


SLUG = "bench-reports-"
RESULTS = Path(__file__).resolve().parent / "results"
#: The issue's bars, as a share of the raw aggregate's median.
BARS = {"summary": 0.1, "page": 0.2}


def _alternating(runs: int, calls: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Each call once to warm caches and the pool, then `runs` rounds of every call in turn."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return times


@click.command(help=__doc__.split("\n\n", 1)[0] if __doc__ else None)
@click.option("--payments", default=100_000, show_default=True, help="Payments in all, over the tenants.")
@click.option("--tenants", default=1, show_default=True, help="Tenants to spread them over.")
@click.option(
    "--largest-share",
    type=click.FloatRange(0.0, 0.99),
    default=0.0,
    show_default=True,
    help="Share of the payments that go to the first tenant (0: spread evenly). A platform's merchants "
    "are not alike: with 0.4, the largest holds 40%% and the others split the rest evenly. Both the "
    "largest and a typical (second) tenant are measured.",
)
@click.option("--runs", default=15, show_default=True, help="Timed rounds of each question.")
@click.option("--reuse", is_flag=True, help="Measure the tenants an earlier run seeded here (no seeding).")
@click.option(
    "--rebuild-all", is_flag=True, help="Rebuild every tenant's rollups, not only the measured ones."
)
@click.option(
    "--rebuild/--no-rebuild",
    default=True,
    show_default=True,
    help="Rebuild the measured tenants' rollups first (--no-rebuild with --reuse: measure them as they are).",
)
@click.option("--export/--no-export", default=True, show_default=True, help="Measure the CSV export too.")
@click.option(
    "--clone",
    is_flag=True,
    help="Seed and rebuild the measured tenants only, then copy the last one's rows (raw and rollups) to "
    "the others as a superuser (DATABASE_ADMIN_URL): the same table sizes in minutes instead of an hour.",
)
@click.option(
    "--interleave",
    is_flag=True,
    help="Lay the payments table out in creation order (CLUSTER as a superuser, DATABASE_ADMIN_URL), as "
    "a live system writes it: every tenant's payments spread over the table, not one block per tenant.",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON file for the figures.")
def command(
    payments: int,
    tenants: int,
    largest_share: float,
    runs: int,
    reuse: bool,
    rebuild_all: bool,
    rebuild: bool,
    export: bool,
    clone: bool,
    interleave: bool,
    out: Path | None,
) -> None:
    from bench.suite import commit_id
    from wsgi import create_app

    settings = Settings.from_env()
    if not settings.database_url.startswith("postgresql"):
        raise click.ClickException("the reports benchmark needs PostgreSQL in DATABASE_URL")
    if largest_share and tenants < 2:
        raise click.ClickException("--largest-share needs --tenants 2 or more")
    rt = runtime_module.configure(settings)
    app = create_app(settings, runtime=rt)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ids: list[str] = []
    seeded = 0.0
    if reuse:
        with rt.db.unit_of_work() as uow:
            ids = list(
                uow.session.scalars(
                    select(Tenant.id).where(Tenant.slug.startswith(SLUG)).order_by(Tenant.created_at)
                )
            )
        if not ids:
            raise click.ClickException("--reuse: no tenant of an earlier run in this database")
    else:
        with rt.db.unit_of_work() as uow:
            for n in range(tenants):
                tenant, _keys = create_tenant(
                    uow.session,
                    rt.context(uow, BENCH),
                    name=f"Reports bench {stamp} #{n + 1}",
                    slug=f"{SLUG}{stamp}-{n + 1}",
                    country="DE",
                    currency="EUR",
                )
                ids.append(tenant.id)
        shares = _shares(payments, tenants, largest_share)
        started = time.monotonic()
        # --clone seeds the measured tenants (the first; with --largest-share the second too) and copies.
        seeding_ids = ids[: (2 if largest_share else 1)] if clone else ids
        with click.progressbar(
            length=sum(shares[: len(seeding_ids)]), label="seeding", show_eta=True, show_pos=True
        ) as bar:
            for n, tenant_id in enumerate(seeding_ids):
                last = 0
                for done in seeding.seed(
                    rt.db,
                    tenant_id=tenant_id,
                    payments=shares[n],
                    now=rt.clock.now(),
                    currencies=("EUR", "USD"),
                    seed=14 + n,
                    analyze=False,
                ):
                    bar.update(done - last)
                    last = done
        seeding.analyze_tables(rt.db)
        seeded = time.monotonic() - started
    measured = ids[:2] if largest_share or (reuse and len(ids) > 1 and _skewed(rt, ids)) else ids[:1]
    with rt.db.unit_of_work() as uow:
        total = int(
            uow.session.scalar(text("SELECT count(*) FROM tenants WHERE slug LIKE 'bench-reports-%'")) or 0
        )
    counts = {t: service.count_payments(rt, tenant_id=t) for t in ids}
    in_all = sum(counts.values())
    rebuilding = ids if rebuild_all else measured if rebuild else []
    started = time.monotonic()
    with click.progressbar(
        length=sum(counts[t] for t in rebuilding), label="rebuilding", show_eta=True, show_pos=True
    ) as bar:
        for t in rebuilding:
            for done in service.rebuild(rt, tenant_id=t, actor=BENCH):
                bar.update(done)
    rebuilt = time.monotonic() - started
    rebuilt_payments = sum(counts[t] for t in rebuilding)
    cloned = 0.0
    if clone and not reuse and len(ids) > len(measured):
        started = time.monotonic()
        _clone(measured[-1], ids[len(measured) :])
        cloned = time.monotonic() - started
        seeding.analyze_tables(rt.db)
        counts = {t: service.count_payments(rt, tenant_id=t) for t in ids}
        in_all = sum(counts.values())
    if interleave:
        _interleave()
    # What autovacuum leaves on a live system: statistics and the visibility map of the rollups.
    with rt.db.owner_engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in (
            "report_daily",
            "report_day_totals",
            "report_monthly",
            "report_customer_days",
            "report_shoppers",
        ):
            conn.execute(text(f"VACUUM ANALYZE {table}"))

    click.echo(
        f"tenants {total} in the database ({len(ids)} of this run), payments {in_all} in all, a year each"
    )
    click.echo(
        f"seed {seeded:.1f} s, rebuild of {len(rebuilding)} tenant(s) {rebuilt:.1f} s "
        f"({rebuilt_payments / max(rebuilt, 1e-9):.0f} payments/s)"
        + (f", copied to {len(ids) - len(measured)} tenants in {cloned:.1f} s" if cloned else "")
    )
    results = []
    for n, tenant_id in enumerate(measured):
        role = "largest tenant" if len(measured) > 1 and n == 0 else "typical tenant" if n else "tenant"
        click.echo(f"\n{role}: {counts[tenant_id]} payments")
        results.append(
            {
                "tenant": role,
                "payments": counts[tenant_id],
                **_measure(rt, app, tenant_id=tenant_id, runs=runs, stamp=f"{stamp}-{n}", export=export),
            }
        )
    commit = commit_id()
    path = out or RESULTS / f"{commit}-reports.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "commit": commit,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores; Python {platform.python_version()}",
        "tenants_in_database": total,
        "payments_in_all": in_all,
        "largest_share": largest_share,
        "rounds": runs,
        "payments_layout": "creation order (--interleave)" if interleave else "as seeded",
        "seed_seconds": round(seeded, 1),
        "cloned_tenants": len(ids) - len(measured) if cloned else 0,
        "clone_seconds": round(cloned, 1),
        "rebuild": {"tenants": len(rebuilding), "seconds": round(rebuilt, 1), "payments": rebuilt_payments},
        "bars": BARS,
        "measured": results,
    }
    path.write_text(json.dumps(figures, indent=2) + "\n")
    click.echo(f"written to {path}")


def _shares(payments: int, tenants: int, largest_share: float) -> list[int]:
    """Payments per tenant: even, or the first `largest_share` of them and the rest split evenly."""
    if not largest_share:
        return [max(1, payments // tenants)] * tenants
    largest = round(payments * largest_share)
    return [largest] + [max(1, (payments - largest) // (tenants - 1))] * (tenants - 1)


def _skewed(rt: Any, ids: list[str]) -> bool:
    """--reuse: whether the earlier run gave the first tenant more payments than the second."""
    return service.count_payments(rt, tenant_id=ids[0]) > 2 * service.count_payments(rt, tenant_id=ids[1])


def analyst_portal(rt: Any, app: Any, *, tenant_id: str, email: str) -> Any:
    """A test client of `app` signed in as a new analyst of the tenant, through a portal session: no
    password sign-in, whose Argon2 hash is not what a benchmark measures."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        user = create_user(
            uow.session,
            rt.context(uow, BENCH),
            tenant_id=tenant_id,
            email=email,
            role="analyst",
            password=secrets.token_urlsafe(24),
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
    portal = app.test_client()
    with portal.session_transaction() as cookie:
        cookie["sid"] = token
    return portal


def _measure(rt: Any, app: Any, *, tenant_id: str, runs: int, stamp: str, export: bool) -> dict[str, Any]:
    """The alternating rounds for one tenant and the whole year; prints and returns the figures."""
    end = rt.clock.now().date()
    start = end - timedelta(days=364)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        secret = issue_key(
            uow.session, rt.context(uow, BENCH), tenant_id=tenant_id, kind=KeyKind.SECRET, mode=KeyMode.TEST
        )
    portal = analyst_portal(rt, app, tenant_id=tenant_id, email=f"analyst-{stamp}@bench.example")

    def raw() -> None:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            uow.session.execute(
                text(RAW),
                {"t": tenant_id, "start": start.isoformat(), "end": (end + timedelta(days=1)).isoformat()},
            ).all()

    api = app.test_client()
    summary_url = f"/api/v1/reports/summary?from={start}&to={end}&group_by=month"
    page_url = f"/portal/reports?from={start}&to={end}"
    assert api.get(summary_url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert portal.get(page_url).status_code == 200
    filters = queries.Filters(livemode=False, start=start, end=end)

    def summary() -> None:
        api.get(summary_url, headers={"Authorization": f"Bearer {secret}"})

    def page() -> None:
        portal.get(page_url)

    def api_floor() -> None:  # the cheapest authenticated API GET: what any API answer costs here
        api.get("/api/v1/payments?limit=1", headers={"Authorization": f"Bearer {secret}"})

    def portal_floor() -> None:  # the portal's home page: what any signed-in page costs here
        portal.get("/portal/")

    def shoppers() -> None:
        with rt.analytics.unit_of_work(tenant_id=tenant_id) as uow:
            queries.customers(uow.session, filters, currency="EUR")

    load_before = os.getloadavg()
    times = _alternating(
        runs,
        {
            "raw": raw,
            "summary": summary,
            "page": page,
            "shoppers": shoppers,
            "api_floor": api_floor,
            "portal_floor": portal_floor,
        },
    )
    load_after = os.getloadavg()
    medians = {name: statistics.median(values) for name, values in times.items()}
    raw_s = medians["raw"]
    export_figures: dict[str, float | int] = {}
    if export:
        before = peak_rss_mb()
        export_started = time.monotonic()
        response = portal.get(f"/portal/reports/export/payments.csv?from={start}&to={end}", buffered=False)
        lines = sum(chunk.count(b"\n") for chunk in response.response)
        export_figures = {
            "rows": lines - 1,
            "seconds": round(time.monotonic() - export_started, 2),
            "peak_rss_mb_before": round(before),
            "peak_rss_mb_after": round(peak_rss_mb()),
        }
    click.echo(
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {runs} alternating rounds"
    )
    click.echo(f"raw GROUP BY day, status (median):          {raw_s * 1000:8.1f} ms")
    labels = {
        "summary": "GET /api/v1/reports/summary (year, month)",
        "page": "GET /portal/reports (year, every section)",
        "shoppers": "shopper figures alone (queries.customers)",
        "api_floor": "floor: GET /api/v1/payments?limit=1",
        "portal_floor": "floor: GET /portal/ (home page)",
    }
    ratios = {}
    for name, label in labels.items():
        ratios[name] = medians[name] / raw_s
        bar = (
            f"  (bar {BARS[name]}x: {'met' if ratios[name] <= BARS[name] else 'NOT met'})"
            if name in BARS
            else ""
        )
        click.echo(f"{label}: {medians[name] * 1000:8.1f} ms  {ratios[name]:.3f}x raw{bar}")
    if export_figures:
        e = export_figures
        click.echo(
            f"payments CSV export: {e['rows']} rows in {e['seconds']} s; peak RSS "
            f"{e['peak_rss_mb_before']} MB before, {e['peak_rss_mb_after']} MB after"
        )
    return {
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
        "median_ms": {name: round(value * 1000, 2) for name, value in medians.items()},
        "ratio_to_raw": {name: round(value, 4) for name, value in ratios.items()},
        "met": {name: ratios[name] <= bar for name, bar in BARS.items()},
        "export": export_figures,
    }


#: What `--clone` copies, parents first: the raw rows, then the rollups (the copies' rollups are the first
#: tenant's, so every tenant has rollups as large as a rebuild would leave).
CLONED = (
    "checkout_sessions",
    "payments",
    "refunds",
    "ledger_journals",
    "ledger_entries",
    "report_facts",
    "report_daily",
    "report_day_totals",
    "report_monthly",
    "report_customer_days",
    "report_shoppers",
)


def _clone(source: str, targets: list[str]) -> None:
    """Copy `source`'s rows of CLONED to each target tenant (same ids: every key starts with tenant_id)."""
    engine = _admin_engine()
    with engine.connect() as conn:
        columns = {
            table: [
                name
                for (name,) in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                        "AND table_schema = 'public' ORDER BY ordinal_position"
                    ),
                    {"t": table},
                )
                if name != "tenant_id"
            ]
            for table in CLONED
        }
    with click.progressbar(
        targets, label="copying to the other tenants", show_eta=True, show_pos=True
    ) as bar:
        for target in bar:
            with engine.begin() as conn:
                for table in CLONED:
                    names = ", ".join(columns[table])
                    conn.execute(
                        text(
                            f"INSERT INTO {table} (tenant_id, {names}) "  # noqa: S608  (names from the catalogue)
                            f"SELECT :target, {names} FROM {table} WHERE tenant_id = :source"
                        ),
                        {"target": target, "source": source},
                    )
    engine.dispose()


def _admin_engine() -> Any:
    from sqlalchemy import create_engine

    url = os.environ.get("DATABASE_ADMIN_URL")
    if not url:
        raise click.ClickException(
            "--clone and --interleave need DATABASE_ADMIN_URL (a superuser of the bench database)"
        )
    return create_engine(url)


def _interleave() -> None:
    """Rewrite `payments` in creation order (all tenants mixed, as a live system's inserts leave it)."""
    engine = _admin_engine()
    started = time.monotonic()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_bench_payments_created ON payments (created_at)"))
        conn.execute(text("CLUSTER payments USING ix_bench_payments_created"))
        conn.execute(text("DROP INDEX ix_bench_payments_created"))
        conn.execute(text("VACUUM ANALYZE payments"))
    engine.dispose()
    click.echo(f"payments laid out in creation order in {time.monotonic() - started:.1f} s")
