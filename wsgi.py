"""Composition root: `create_app()` and the `kassa` command-line group.

Gunicorn serves `wsgi:create_app()`; `KASSA_SURFACES=checkout` makes a process that serves only the
PCI-scoped checkout. Everything is wired here and nowhere else: no module builds an app, an engine or a
Redis connection when imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import ConfigurationError, Settings
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.web import errors, health, i18n, logs, security
from core.web import request as web_request
from core.web.extensions import babel, csrf, htmx
from tenants import passwords

ROOT = Path(__file__).resolve().parent


def create_app(
    settings: Settings | None = None, surfaces: Sequence[str] | None = None, *, runtime: Runtime | None = None
) -> Flask:
    settings = settings or Settings.from_env()
    if surfaces is not None:
        settings = settings.with_changes(surfaces=tuple(surfaces))
    logs.configure_logging(settings.log_level)
    passwords.configure(settings)  # argon2id at full cost; the cheap test hasher only where allowed
    app = Flask(__name__, static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    cookie_prefix = "__Host-" if settings.secure_cookies else ""
    app.config.update(
        SECRET_KEY=settings.secret_key,
        KASSA_SETTINGS=settings,
        SESSION_COOKIE_NAME=f"{cookie_prefix}kassa_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=3600,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        JSON_SORT_KEYS=False,
        BABEL_DEFAULT_LOCALE="en",
        TESTING=settings.environment == "test",
    )
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )
    rt = runtime or runtime_module.configure(settings)
    app.extensions["kassa.runtime"] = rt

    web_request.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(
        app, locale_selector=i18n.select_locale, default_translation_directories=str(ROOT / "translations")
    )
    i18n.init_app(app)
    app.register_blueprint(health.bp)

    if "checkout" in settings.surfaces:
        from checkout import init_app as init_checkout

        init_checkout(app)
    if "portal" in settings.surfaces:
        from portal.views import init_app as init_portal

        init_portal(app)
    if "api" in settings.surfaces:
        from portal.api import init_app as init_api

        init_api(app)

    app.cli.add_command(db_group)
    app.cli.add_command(tenants_group)
    app.cli.add_command(users_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(checkout_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
    return app


def _runtime() -> Runtime:
    from flask import current_app

    rt: Runtime = current_app.extensions["kassa.runtime"]
    return rt


def _fail(message: str) -> None:
    raise click.ClickException(message)


# --- kassa db -------------------------------------------------------------------------------------------


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate to the newest schema (owner role) and grant the application role.")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    from core.migrate import RolesNotReady, upgrade

    settings = _runtime().settings
    click.echo(f"Migrating {_safe_url(settings.database_url)} to {revision} …")
    try:
        upgrade(settings, revision)
    except RolesNotReady as exc:
        _fail(str(exc))
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

    settings = _runtime().settings
    try:
        done = bootstrap_roles(settings, with_driver(admin_url))
    except ConfigurationError as exc:
        _fail(str(exc))
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


# --- kassa tenants / users ------------------------------------------------------------------------------


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
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants.service import create_tenant

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant, keys = create_tenant(
                uow.session,
                name=name,
                slug=slug,
                country=country,
                currency=currency,
                actor=Actor.system("cli"),
                clock=rt.clock,
                kms=rt.kms,
            )
    except KassaError as exc:
        _fail(exc.message)
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

    with _runtime().db.unit_of_work() as uow:
        for tenant in all_tenants(uow.session):
            click.echo(
                f"{tenant.id}  {tenant.slug:<24} {tenant.country}  {tenant.default_currency}  {tenant.name}"
            )


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
@click.option("--role", required=True, type=click.Choice(["owner", "admin", "developer", "analyst"]))
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
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants.lookup import tenant_by_ref
    from tenants.service import create_user, user_id_for_email

    rt = _runtime()
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
                tenant_id=tenant.id,
                email=email,
                role=role,
                password=password,
                totp_secret=totp_secret,
                actor=Actor.system("cli"),
                clock=rt.clock,
                kms=rt.kms,
            )
    except KassaError as exc:
        _fail(exc.message)
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
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants.sign_in import disable_user

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            user, ended = disable_user(
                uow.session, email=email, actor=Actor.system("cli"), clock=rt.clock, kms=rt.kms
            )
    except KassaError as exc:
        _fail(exc.message)
        return
    click.echo(f"User {user.id} ({user.email}) is disabled; {ended} open session(s) ended.")


@users_group.command("enable", help="Let a disabled or locked-out user sign in again.")
@click.option("--email", required=True)
@with_appcontext
def users_enable(email: str) -> None:
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants.sign_in import enable_user

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            user = enable_user(
                uow.session, email=email, actor=Actor.system("cli"), clock=rt.clock, kms=rt.kms
            )
    except KassaError as exc:
        _fail(exc.message)
        return
    click.echo(f"User {user.id} ({user.email}) can sign in again.")


# --- kassa audit ---------------------------------------------------------------------------------------


@click.group("audit", help="The hash-chained audit trail.")
def audit_group() -> None:
    pass


@audit_group.command(
    "verify", help="Check tenants' audit chains; exit 1 if any event was edited, removed or moved."
)
@click.option("--tenant", "tenant_ref", default=None, help="Tenant slug or id (default: every tenant).")
@click.option(
    "--adopt",
    is_flag=True,
    help="Sign the current end of intact chains that have no signed head yet (once, after upgrading).",
)
@with_appcontext
def audit_verify(tenant_ref: str | None, adopt: bool) -> None:
    from core.audit import service as audit
    from core.errors import KassaError
    from tenants.lookup import all_tenants, tenant_by_ref

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenants = [tenant_by_ref(uow.session, tenant_ref)] if tenant_ref else all_tenants(uow.session)
    except KassaError as exc:
        _fail(exc.message)
        return
    broken = 0
    with click.progressbar(tenants, label="Verifying audit chains", file=sys.stderr) as bar:
        results = []
        for tenant in bar:
            with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
                if adopt and audit.adopt_head(uow.session, tenant_id=tenant.id, kms=rt.kms, clock=rt.clock):
                    click.echo(f"{tenant.slug}: signed the current end of its chain", err=True)
                results.append((tenant, audit.verify(uow.session, tenant_id=tenant.id, kms=rt.kms)))
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


# --- kassa keys ----------------------------------------------------------------------------------------


@click.group(
    "keys",
    help="Keys: `rotate` re-wraps data keys under a new master key; `list`, `roll` and `revoke` manage "
    "tenants' API keys (pk_/sk_).",
)
def keys_group() -> None:
    pass


@keys_group.command(
    "rotate",
    help="Master key (not API keys: see `keys roll`). Re-wrap every data key and TOTP seed under "
    "KASSA_MASTER_KEY, so the previous master keys "
    "can be retired. Card data is not re-encrypted; safe to run while Kassa runs, and to run again.",
)
@click.option(
    "--batch", default=200, show_default=True, type=click.IntRange(1, 10_000), help="Rows per commit."
)
@click.option(
    "--data-keys",
    is_flag=True,
    help="Instead: give every tenant new card and audit data keys, re-encrypt its cards, destroy the old "
    "card keys (kassa cron does this by itself past KASSA_DATA_KEY_MAX_AGE_DAYS).",
)
@with_appcontext
def keys_rotate(batch: int, data_keys: bool) -> None:
    from core.vault.service import RotationFailed, rotate_master_key, rotation_plan

    rt = _runtime()
    if data_keys:
        _rotate_data_keys(rt, batch)
        return
    if not rt.settings.previous_master_keys:
        _fail(
            "KASSA_PREVIOUS_MASTER_KEYS is empty, so there is nothing to rotate from. To rotate: "
            "set KASSA_MASTER_KEY to the new key and KASSA_PREVIOUS_MASTER_KEYS to the old one(s), "
            "then run again."
        )
    click.echo(
        "Re-wrapping data keys and TOTP seeds under the current master key "
        f"({rt.kms.current_key_id.hex()}).\n"
        "Card numbers stay sealed under their tenant's data key: only the data keys' wrapping changes.\n"
        "Every process configured with both keys keeps working meanwhile; each batch commits on its own, "
        "so this can be interrupted and run again."
    )
    plan = rotation_plan(rt.db, kms=rt.kms)
    try:
        with click.progressbar(length=plan.total, label="Re-wrapping", file=sys.stderr) as bar:
            done = rotate_master_key(rt.db, kms=rt.kms, batch=batch, progress=bar.update, clock=rt.clock)
    except RotationFailed as exc:
        _fail(str(exc))
        return
    left = rotation_plan(rt.db, kms=rt.kms)
    click.echo(
        f"Re-wrapped {done} key(s): {plan.data_keys} data key(s), {plan.totp_secrets} TOTP seed(s) and "
        f"{plan.audit_heads} signed audit head(s) were under a previous master key."
    )
    if left.total:
        click.echo(
            f"{left.total} key(s) were sealed under a previous master key while this ran: a process still "
            "uses the old KASSA_MASTER_KEY. Restart every process with the new key, then run this again."
        )
    elif left.audit_details:
        click.echo(
            f"Keep KASSA_PREVIOUS_MASTER_KEYS for now: the details of {left.audit_details} audit event(s) "
            "are sealed directly under a previous master key and cannot be re-encrypted without breaking "
            "the audit hash chain."
        )
    else:
        click.echo(
            "Nothing is left under a previous master key. Once every process runs with the new "
            "KASSA_MASTER_KEY, you may remove KASSA_PREVIOUS_MASTER_KEYS and retire the old key."
        )


def _rotate_data_keys(rt: Runtime, batch: int) -> None:
    from core.vault import lifetimes

    tenant_ids = rt.db.tenant_ids()
    started = sum(
        lifetimes.start_rotation(rt.db, tenant_id=t, kms=rt.kms, clock=rt.clock) for t in tenant_ids
    )
    click.echo(
        f"New card and audit data keys for {started} tenant(s); the old ones seal nothing more.\n"
        "Re-encrypting the cards under the new keys, one batch per commit (safe to interrupt and run again)."
    )
    total = lifetimes.cards_to_reencrypt(rt.db, tenant_ids=tenant_ids)
    cards = destroyed = 0
    with click.progressbar(length=total, label="Re-encrypting cards", file=sys.stderr) as bar:
        for tenant_id in tenant_ids:
            done, gone = lifetimes.finish_rotation(
                rt.db, tenant_id=tenant_id, kms=rt.kms, clock=rt.clock, batch=batch, progress=bar.update
            )
            cards, destroyed = cards + done, destroyed + gone
    click.echo(
        f"Re-encrypted {cards} card(s) and destroyed {destroyed} retired card key(s). Retired audit keys "
        "stay to read older audit details (the hash chain covers them)."
    )


# --- kassa keys: tenants' API keys ----------------------------------------------------------------------


_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text_value: str) -> timedelta:
    """`0`, `90s`, `30m`, `24h`, `7d` (a bare number is seconds)."""
    match = _DURATION.match(text_value.lower())
    if match is None:
        raise click.BadParameter("use a number with s, m, h or d, e.g. 24h, 30m or 0 (revoke at once).")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _key_line(record: Any, now: Any) -> str:
    from tenants import api_keys

    status = api_keys.status_of(record, now)
    until = f" until {record.expires_at:%Y-%m-%d %H:%M} UTC" if status == "expiring" else ""
    return f"{record.id}  {record.mode:<4}  {record.kind:<11}  {status}{until}  {record.display}"


@keys_group.command("list", help="List a tenant's API keys: id, mode, kind, status, and what the key shows.")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@with_appcontext
def keys_list(tenant_ref: str) -> None:
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            now = rt.clock.now()
            lines = [_key_line(k, now) for k in api_keys.list_keys(uow.session, livemode=None)]
    except KassaError as exc:
        _fail(exc.message)
        return
    for line in lines:
        click.echo(line)


@keys_group.command(
    "roll",
    help="Replace one of a tenant's API keys (not the master key: see `keys rotate`). Prints the new key "
    "once; the old one keeps working for --overlap (default 24h, at most 7d), or stops at once with "
    "--overlap 0.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--key", "key_id", required=True, help="The key's id (key_…), from `kassa keys list`.")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old key still works: 0, 30m, 24h, 7d."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the new key and the old one's id and end.")
@with_appcontext
def keys_roll(tenant_ref: str, key_id: str, overlap: str, as_json: bool) -> None:
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    span = _duration(overlap)
    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            rolled = api_keys.roll(
                uow.session,
                key_id=key_id.strip(),
                livemode=None,
                overlap=span,
                actor=Actor.system("cli"),
                clock=rt.clock,
                kms=rt.kms,
            )
            new_id, old_id = rolled.new.id, rolled.old.id
            ends = rolled.old.revoked_at or rolled.old.expires_at
    except KassaError as exc:
        _fail(exc.message)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "key_id": new_id,
                    "key": rolled.key,
                    "replaced": old_id,
                    "replaced_until": int(ends.timestamp()) if ends else None,
                }
            )
        )
        return
    click.echo(f"New key:  {rolled.key}  ({new_id})")
    if span:
        click.echo(f"Old key {old_id} works until {ends:%Y-%m-%d %H:%M} UTC, then is refused.")
    else:
        click.echo(f"Old key {old_id} is revoked now.")
    click.echo("The new key is shown only now; store it in your server's secrets.")


@keys_group.command(
    "revoke",
    help="Revoke one of a tenant's API keys now: every later use is refused (401) and audited.",
)
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--key", "key_id", required=True, help="The key's id (key_…), from `kassa keys list`.")
@with_appcontext
def keys_revoke(tenant_ref: str, key_id: str) -> None:
    from core.audit.service import Actor
    from core.errors import KassaError
    from tenants import api_keys
    from tenants.lookup import tenant_by_ref

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as uow:
            tenant = tenant_by_ref(uow.session, tenant_ref)
            uow.bind_tenant(tenant.id)
            record = api_keys.revoke(
                uow.session,
                key_id=key_id.strip(),
                livemode=None,
                actor=Actor.system("cli"),
                clock=rt.clock,
                kms=rt.kms,
            )
            line = (
                f"Key {record.id} ({record.display}) is revoked since {record.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
    except KassaError as exc:
        _fail(exc.message)
        return
    click.echo(line)


# --- kassa checkout ------------------------------------------------------------------------------------


@click.group("checkout", help="The hosted payment pages.")
def checkout_group() -> None:
    pass


@checkout_group.command(
    "verify-scripts",
    help="Fetch a live payment page (e.g. https://pay.example.com/pay/cs_…) and compare every script it "
    "loads with checkout/script_inventory.json (unknown, missing or changed scripts, inline scripts, "
    "scripts without the page's CSP nonce), and check its security headers (CSP with a nonce, "
    "object-src 'none', base-uri 'none', frame-ancestors; HSTS; nosniff; Referrer-Policy). Exits 0 when "
    "everything matches, 1 when anything differs: run it on a schedule as a tamper check (PCI DSS "
    "11.6.1), e.g. from cron every 15 minutes with a long-lived session's page, alerting on a non-zero "
    "exit:\n\n\b\n  */15 * * * * kassa checkout verify-scripts https://pay.example.com/pay/cs_… "
    "|| alert-oncall",
)
@click.argument("url")
@click.option(
    "--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 120), help="Seconds per request."
)
def checkout_verify_scripts(url: str, timeout: float) -> None:
    from checkout import inventory
    from checkout.script_check import check_page

    try:
        listed = inventory.load()
    except inventory.InventoryError as exc:
        _fail(str(exc))
        return
    report = check_page(url, listed, timeout=timeout)
    click.echo(f"Page {url} (HTTP {report.status or '—'})")
    click.echo(f"Inventory {inventory.INVENTORY_PATH.name}: {len(listed.scripts)} script(s)")
    for finding in report.findings:
        mark = "DIFFERS" if finding.problem else "ok"
        detail = finding.detail if finding.problem else finding.detail.removeprefix("ok").strip()
        click.echo(f"  {mark:<8}{finding.kind:<9}{finding.subject}" + (f"  {detail}" if detail else ""))
    if report.clean:
        click.echo("Clean: the page loads exactly its inventoried scripts and sends every security header.")
        return
    click.echo(
        f"{len(report.problems)} difference(s) from the inventory. If nobody changed these scripts on "
        "purpose (with their inventory entry), treat the page as tampered with.",
        err=True,
    )
    sys.exit(1)


# --- processes ------------------------------------------------------------------------------------------


@click.command("worker", help="Run an RQ worker on the app's Redis (all queues unless --queue is given).")
@click.option("--queue", "queues", multiple=True, help="payments, webhooks, payouts, default (repeatable).")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option(
    "--in-process",
    is_flag=True,
    help="Run each job in this process (RQ's SimpleWorker) instead of a forked work horse: about three "
    "times the job rate, but a job that crashes the interpreter takes the worker with it (a supervisor "
    "restarts it; the sweeper re-queues its job). Pair it with --max-jobs to recycle the process.",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Exit after this many jobs, for a supervisor to start a fresh process.",
)
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool, in_process: bool, max_jobs: int | None) -> None:
    from rq import SimpleWorker, Worker

    from core.jobs.queues import QUEUE_NAMES
    from core.jobs.worker import make_worker

    rt = _runtime()
    unknown = set(queues) - set(QUEUE_NAMES)
    if unknown:
        _fail(f"Unknown queue(s): {', '.join(sorted(unknown))}. Queues are {', '.join(QUEUE_NAMES)}.")
    if rt.settings.uses_fake_redis:
        _fail(
            "REDIS_URL is not set: a separate worker needs a real Redis "
            "(the demo runs its own worker thread)."
        )
    _load_jobs()
    # with_scheduler: RQ keeps a failed job's retry in its scheduled registry; the scheduler (a process
    # of one worker at a time, by Redis lock) moves it back to its queue when the back-off is over.
    worker = make_worker(rt, queues or QUEUE_NAMES, worker_class=SimpleWorker if in_process else Worker)
    worker.work(burst=burst, logging_level=rt.settings.log_level, with_scheduler=True, max_jobs=max_jobs)


@click.command("cron", help="Run the scheduler: outbox relay every second, housekeeping jobs on schedule.")
@with_appcontext
def cron_command() -> None:
    from core.jobs.worker import run_cron

    rt = _runtime()
    if rt.settings.uses_fake_redis:
        _fail("REDIS_URL is not set: cron would relay jobs into an in-process Redis no worker reads.")
    _load_jobs()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("kassa cron: running (Ctrl-C to stop)")
    try:
        run_cron(rt, stop)
    except KeyboardInterrupt:
        stop.set()


@click.command("serve", help="Serve the app with gunicorn (KASSA_SURFACES picks the surfaces).")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve_command(bind: str, workers: int, threads: int) -> None:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    args = [
        gunicorn,
        "wsgi:create_app()",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--chdir",
        str(ROOT),
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        "127.0.0.1",
    ]
    os.execv(gunicorn, args)  # noqa: S606  (replaces this process with gunicorn, arguments built above)


@click.command(
    "demo", help="Everything in one process: SQLite, in-process Redis, a worker thread, a demo tenant."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--shop-port", default=5001, show_default=True, type=int, help="Port of the demo shop with the widget."
)
@with_appcontext
def demo_command(host: str, port: int, shop_port: int) -> None:
    from demo import run_demo

    run_demo(_runtime(), host=host, port=port, shop_port=shop_port)


def _load_jobs() -> None:
    """Import every job module so the registry is complete in this process."""
    import core.jobs.maintenance
    import core.payments.jobs  # noqa: F401


def _create_cli_app(**_: Any) -> Flask:
    try:
        return create_app()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


cli = FlaskGroup(
    name="kassa",
    create_app=_create_cli_app,
    add_default_commands=True,
    add_version_option=False,
    load_dotenv=False,
    help="Kassa: hosted checkout and merchant portal.",
)
