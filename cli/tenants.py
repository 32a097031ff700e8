"""`kassa tenants`: merchant accounts."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime


@click.group("tenants", help="Merchant accounts.")
def tenants_group() -> None:
    pass


@tenants_group.command("create", help="Create a tenant and print its id and test keys (shown once).")
@click.option("--name", required=True)
@click.option("--slug", required=True, help="URL-safe handle, e.g. acme")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. DE")
@click.option("--currency", required=True, help="ISO 4217, e.g. EUR")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: tenant_id, publishable_key, secret_key.")
@with_appcontext
def tenants_create(name: str, slug: str, country: str, currency: str, as_json: bool) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants.service import create_tenant

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant, keys = create_tenant(
                uow.session,
                rt.context(uow, Actor.system("cli")),
                name=name,
                slug=slug,
                country=country,
                currency=currency,
            )
    except KassaError as exc:
        fail(exc.message)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "tenant_id": tenant.id,
                    "slug": tenant.slug,
                    "publishable_key": keys.publishable_key,
                    "secret_key": keys.secret_key,
                }
            )
        )
    else:
        click.echo(f"Tenant:          {tenant.id} ({tenant.slug})")
        click.echo(f"Publishable key: {keys.publishable_key}")
        click.echo(f"Secret key:      {keys.secret_key}")
        click.echo("The secret key is shown only now; store it in your server's secrets.")


@tenants_group.command("list", help="List tenants: id, slug, country, currency, name.")
@with_appcontext
def tenants_list() -> None:
    from tenants.lookup import all_tenants

    with runtime().db.unit_of_work() as uow:
        for tenant in all_tenants(uow.session):
            click.echo(
                f"{tenant.id}  {tenant.slug:<24} {tenant.country}  {tenant.default_currency}  {tenant.name}"
            )
