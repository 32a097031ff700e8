"""`kassa reports`: rebuild the rollups, seed a large history (for the speed check)."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime
from core.context import Actor

CLI = Actor.system("cli")


@click.group("reports", help="Reports and analytics: rollups and test histories.")
def reports_group() -> None:
    pass


@reports_group.command(
    "rebuild",
    help="Rebuild the rollups from the raw payments, refunds and ledger, in short batches (payments go on).",
)
@click.option("--tenant", "tenant_ref", default=None, help="Tenant slug or id (default: every tenant).")
@click.option("--batch", default=1000, show_default=True, help="Payments per transaction.")
@with_appcontext
def reports_rebuild(tenant_ref: str | None, batch: int) -> None:
    from core.errors import KassaError
    from core.reports import service
    from tenants.lookup import all_tenants, tenant_by_ref

    rt = runtime()
    if batch < 1:
        fail("--batch must be at least 1")
    try:
        with rt.db.unit_of_work() as uow:
            tenants = [tenant_by_ref(uow.session, tenant_ref)] if tenant_ref else all_tenants(uow.session)
            targets = [(t.id, t.slug) for t in tenants]
    except KassaError as exc:
        fail(exc.message)
        return
    for tenant_id, slug in targets:
        count = service.count_payments(rt, tenant_id=tenant_id)
        started = time.monotonic()
        with click.progressbar(
            length=count, label=f"{slug}: {count} payments", show_eta=True, show_pos=True
        ) as bar:
            for done in service.rebuild(rt, tenant_id=tenant_id, actor=CLI, batch=batch):
                bar.update(done)
        click.echo(f"{slug}: rebuilt from {count} payments in {time.monotonic() - started:.1f} s")


@reports_group.command(
    "seed", help="Write a large made-up payment history for a test tenant (for the speed check), in bulk."
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--payments", default=100_000, show_default=True, help="How many payments.")
@click.option("--days", default=365, show_default=True, help="Spread over the last this many days.")
@click.option(
    "--seed", "seed_value", default=14, show_default=True, help="Random seed (same seed, same history)."
)
@with_appcontext
def reports_seed(tenant_ref: str, payments: int, days: int, seed_value: int) -> None:
    from core.errors import KassaError
    from core.reports import seed
    from tenants.lookup import tenant_by_ref

    rt = runtime()
    if payments < 1 or days < 1:
        fail("--payments and --days must be at least 1")
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            tenant_id, slug, currency = tenant.id, tenant.slug, tenant.default_currency
    except KassaError as exc:
        fail(exc.message)
        return
    currencies = (currency, *[c for c in ("EUR", "USD", "GBP") if c != currency][:2])
    started = time.monotonic()
    with click.progressbar(length=payments, label=f"{slug}: seeding", show_eta=True, show_pos=True) as bar:
        last = 0
        for done in seed.seed(
            rt.db,
            tenant_id=tenant_id,
            payments=payments,
            days=days,
            currencies=currencies,
            now=rt.clock.now(),
            seed=seed_value,
        ):
            bar.update(done - last)
            last = done
    click.echo(
        f"{slug}: {payments} payments in {time.monotonic() - started:.1f} s; now run kassa reports rebuild"
    )
