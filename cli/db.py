"""`kassa db`: the schema (migrations) and the database roles."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime
from core.config import ConfigurationError, Settings


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate to the newest schema (owner role) and grant the application role.")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    from core.migrate import RolesNotReady, upgrade

    settings = runtime().settings
    click.echo(f"Migrating {_safe_url(settings.database_url)} to {revision} …")
    try:
        upgrade(settings, revision)
    except RolesNotReady as exc:
        fail(str(exc))
    click.echo("Database is up to date.")


@db_group.command(
    "bootstrap-roles",
    help="Once, as a superuser: create the owner role of DATABASE_URL, the NOLOGIN BYPASSRLS definer role "
    "(granted to the owner) and the application role, or correct their attributes. Idempotent.",
)
@click.option(
    "--admin-url",
    envvar="DATABASE_ADMIN_URL",
    required=True,
    help="A superuser's URL (default: $DATABASE_ADMIN_URL); used for this command only.",
)
@with_appcontext
def db_bootstrap_roles(admin_url: str) -> None:
    from core.config import with_driver
    from core.migrate import bootstrap_roles

    settings = runtime().settings
    try:
        done = bootstrap_roles(settings, with_driver(admin_url))
    except ConfigurationError as exc:
        fail(str(exc))
    for line in done:
        click.echo(line)
    click.echo(
        f"Roles ready. Next: CREATE DATABASE … OWNER {_owner(settings)} (if needed), then, as the owner, "
        "kassa db upgrade."
    )


def _owner(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).username or "?"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
