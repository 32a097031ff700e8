"""`kassa audit`: the hash-chained audit trail."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime

#: Who the audit trail and the audit screen name for a check run here (other commands say "cli" too).
CLI_ACTOR = "cli"


@click.group("audit", help="The hash-chained audit trail.")
def audit_group() -> None:
    pass


@audit_group.command(
    "verify",
    help="Check tenants' audit chains and record each check (shown on the portal's audit screen as last "
    "verified by an operator); exit 1 if any event was edited, removed or moved.",
)
@click.option("--tenant", "tenant_ref", default=None, help="Tenant slug or id (default: every tenant).")
@click.option(
    "--adopt",
    is_flag=True,
    help="Sign the current end of intact chains that have no signed head yet (once, after upgrading).",
)
@with_appcontext
def audit_verify(tenant_ref: str | None, adopt: bool) -> None:
    from core.audit import queries
    from core.audit import service as audit
    from core.context import Actor
    from core.errors import KassaError
    from tenants.lookup import all_tenants, tenant_by_ref

    rt = runtime()
    # Like the portal's "Verify now": each check is kept (the audit screen's "last verified … by") and is
    # itself an event of the chain it checked.
    acting = rt.acting(Actor.system(CLI_ACTOR))
    try:
        with rt.db.unit_of_work() as uow:
            tenants = [tenant_by_ref(uow.session, tenant_ref)] if tenant_ref else all_tenants(uow.session)
    except KassaError as exc:
        fail(exc.message)
        return
    broken = 0
    with click.progressbar(tenants, label="Verifying audit chains", file=sys.stderr) as bar:
        results = []
        for tenant in bar:
            with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
                if adopt and audit.adopt_head(uow.session, tenant_id=tenant.id, kms=rt.kms, clock=rt.clock):
                    click.echo(f"{tenant.slug}: signed the current end of its chain", err=True)
                _record, problems = queries.verify_and_record(uow.session, acting, tenant_id=tenant.id)
                results.append((tenant, problems))
    for tenant, problems in results:
        if problems:
            broken += 1
            click.echo(f"{tenant.slug}: BROKEN")
            for problem in problems:
                click.echo(f"  - {problem}")
        else:
            click.echo(f"{tenant.slug}: ok")
    if broken:
        raise click.ClickException(
            f"{broken} audit chain(s) broken. Restore the named events from a backup "
            "and investigate who changed them."
        )
