"""`kassa users`: portal users."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime


@click.group("users", help="Portal users.")
def users_group() -> None:
    pass


@users_group.command(
    "create",
    help="Create a portal user as a member of a tenant, or add a person who already has an account to "
    "another tenant. An existing person's password and TOTP seed are never changed: leave out --password "
    "and --totp-secret for them (or give their current ones); anything else is refused.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--email", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["owner", "admin", "developer", "analyst", "support", "viewer"]),
)
@click.option(
    "--password",
    default=None,
    help="The new user's password (asked for when left out). Not for an existing user: theirs is kept.",
)
@click.option(
    "--totp-secret", default=None, help="Base32 TOTP seed; without it the user enrolls at first sign-in."
)
@with_appcontext
def users_create(
    tenant_ref: str, email: str, role: str, password: str | None, totp_secret: str | None
) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants.lookup import tenant_by_ref
    from tenants.service import create_user, user_id_for_email

    rt = runtime()
    with rt.db.unit_of_work() as uow:
        existing = user_id_for_email(uow.session, email)
    if existing is None and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            user = create_user(
                uow.session,
                rt.context(uow, Actor.system("cli")),
                tenant_id=tenant.id,
                email=email,
                role=role,
                password=password,
                totp_secret=totp_secret,
            )
    except KassaError as exc:
        fail(exc.message)
        return
    if existing is None:
        click.echo(f"User {user.id} ({user.email}) is {role} of {tenant.slug}.")
    else:
        click.echo(
            f"Existing user {user.id} ({user.email}) is now {role} of {tenant.slug}; "
            "their password and authentication app are unchanged."
        )


@users_group.command(
    "disable", help="Disable a user in every tenant: no more sign-in, and every open session ends now."
)
@click.option("--email", required=True)
@with_appcontext
def users_disable(email: str) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants.sign_in import disable_user

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            user, ended = disable_user(uow.session, rt.context(uow, Actor.system("cli")), email=email)
    except KassaError as exc:
        fail(exc.message)
        return
    click.echo(f"User {user.id} ({user.email}) is disabled; {ended} open session(s) ended.")


@users_group.command("enable", help="Let a disabled or locked-out user sign in again.")
@click.option("--email", required=True)
@with_appcontext
def users_enable(email: str) -> None:
    from core.context import Actor
    from core.errors import KassaError
    from tenants.sign_in import enable_user

    rt = runtime()
    try:
        with rt.db.unit_of_work() as uow:
            user = enable_user(uow.session, rt.context(uow, Actor.system("cli")), email=email)
    except KassaError as exc:
        fail(exc.message)
        return
    click.echo(f"User {user.id} ({user.email}) can sign in again.")
