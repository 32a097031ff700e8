"""`kassa payouts`: the operator's settings of a tenant's payouts (settlement delay, rolling reserve)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime
from core.context import Actor
from core.ledger.service import Terms

CLI = Actor.system("cli")


@click.group("payouts", help="Payouts: a tenant's settlement terms and rolling reserve.")
def payouts_group() -> None:
    pass


def _describe(terms: Terms) -> str:
    line = f"settlement T+{terms.delay_days} business days; "
    if not terms.reserve_bps:
        return line + "no rolling reserve"
    return line + (
        f"rolling reserve {terms.reserve_bps / 100:.2f} % for {terms.reserve_days} days "
        f"({terms.reserve_source or 'manual'}: {terms.reserve_reason or 'no reason given'})"
    )


@payouts_group.command(
    "terms",
    help="Show a tenant's settlement terms, or set the delay (T+N business days) and the rolling reserve "
    "(basis points held, for N days). Setting needs --reason: the merchant sees it beside the reserve, "
    "and the audit trail keeps it.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--delay-days", type=int, default=None, help="Business days from capture to available, 0-30.")
@click.option("--reserve-bps", type=int, default=None, help="Rolling reserve in basis points, 0-10000.")
@click.option("--reserve-days", type=int, default=None, help="Days each reserved amount is held, 0-365.")
@click.option("--reason", default=None, help="Why (required to change; shown to the merchant).")
@with_appcontext
def payouts_terms(
    tenant_ref: str,
    delay_days: int | None,
    reserve_bps: int | None,
    reserve_days: int | None,
    reason: str | None,
) -> None:
    from core.errors import KassaError
    from core.ledger import service as ledger
    from core.payouts import reserves
    from tenants.lookup import tenant_by_ref

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            tenant_id, slug = tenant.id, tenant.slug
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            if delay_days is None and reserve_bps is None and reserve_days is None:
                click.echo(f"{slug}: {_describe(ledger.settlement_terms(uow.session, tenant_id=tenant_id))}")
                return
            terms = reserves.set_terms(
                uow.session,
                rt.context(uow, CLI),
                tenant_id=tenant_id,
                reason=reason or "",
                delay_days=delay_days,
                reserve_bps=reserve_bps,
                reserve_days=reserve_days,
            )
            click.echo(f"{slug}: {_describe(terms)}")
    except KassaError as exc:
        fail(exc.message)
