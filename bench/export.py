"""`python -m bench export`: a payments CSV export of a large range in a fresh process, and its memory.

The issue's bar: exporting 200,000 payments keeps the process under 150 MB RSS. The reports benchmark's
own process has seeded and rebuilt before it exports, so its peak says nothing about the export; this one
starts clean: it builds the app, signs in as an analyst of the tenant (`--tenant`, default: the largest
tenant `python -m bench reports` seeded), streams `/portal/reports/export/payments.csv` for the range
through the Flask test client (the same generator gunicorn would drain) and prints rows, seconds, rows/s
and the peak RSS before and after. Needs the database of a reports benchmark run (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import date, timedelta

import click
from sqlalchemy import func, select

from bench.reports import SLUG, analyst_portal
from core.config import Settings
from core.jobs import runtime as runtime_module
from core.memory import peak_rss_mb, reset_peak_rss
from core.reports import service
from tenants.models import Tenant


@click.command(help=__doc__.split("\n\n", 1)[0] if __doc__ else None)
@click.option("--tenant", "tenant_id", default=None, help="Tenant id (default: the largest bench tenant).")
@click.option("--days", default=183, show_default=True, help="Days of the range, ending today.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def command(tenant_id: str | None, days: int, as_json: bool) -> None:
    from wsgi import create_app

    settings = Settings.from_env()
    rt = runtime_module.configure(settings)
    app = create_app(settings, runtime=rt)
    if tenant_id is None:
        with rt.db.unit_of_work() as uow:
            seeded = list(uow.session.scalars(select(Tenant.id).where(Tenant.slug.startswith(SLUG))))
        if not seeded:
            raise click.ClickException("no tenant of `python -m bench reports` here: run it, or --tenant")
        tenant_id = max(seeded, key=lambda t: service.count_payments(rt, tenant_id=t))
    end = rt.clock.now().date()
    start: date = end - timedelta(days=days - 1)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        if uow.session.scalar(select(func.count()).select_from(Tenant).where(Tenant.id == tenant_id)) != 1:
            raise click.ClickException(f"no tenant {tenant_id}")
    portal = analyst_portal(
        rt, app, tenant_id=tenant_id, email=f"export-{secrets.token_hex(4)}@bench.example"
    )
    reset_peak_rss()  # the sign-in's Argon2 hash alone takes 64 MB for a moment
    before = peak_rss_mb()
    started = time.monotonic()
    response = portal.get(f"/portal/reports/export/payments.csv?from={start}&to={end}", buffered=False)
    if response.status_code != 200:
        raise click.ClickException(f"the export answered {response.status_code}")
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    seconds = time.monotonic() - started
    figures = {
        "tenant": tenant_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "rows": lines - 1,
        "seconds": round(seconds, 2),
        "rows_per_second": round((lines - 1) / max(seconds, 1e-9)),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb_after": round(peak_rss_mb()),
    }
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(
        f"payments CSV export, {start} to {end}: {figures['rows']} rows in {figures['seconds']} s "
        f"({figures['rows_per_second']} rows/s); RSS {figures['peak_rss_mb_before']} MB before the export "
        f"(the app loaded and signed in), peak {figures['peak_rss_mb_after']} MB during it"
    )
