"""`kassa demo` / `make demo`: everything in one process on SQLite and the in-process Redis stand-in."""

from __future__ import annotations

import threading

import click
import pyotp
from flask import current_app
from sqlalchemy import select
from werkzeug.serving import make_server

from core.audit.service import Actor
from core.jobs.runtime import Runtime
from core.jobs.worker import run_cron_thread, run_worker_thread
from core.migrate import upgrade
from tenants.models import KeyKind, KeyMode, Tenant
from tenants.service import create_tenant, create_user, issue_key

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.kassa.test"
DEMO_PASSWORD = "kassa-demo-password"  # noqa: S105  (the demo's published sign-in)
#: Published on purpose: the demo prints it so a newcomer can add it to an authenticator app.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105


def seed(rt: Runtime) -> tuple[Tenant, str, str]:
    """The demo tenant and owner (made once), and a fresh test secret key for this run."""
    actor = Actor.system("demo")
    with rt.db.unit_of_work() as uow:
        tenant = uow.session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if tenant is None:
            tenant, keys = create_tenant(
                uow.session,
                name="Demo Shop",
                slug=DEMO_SLUG,
                country="NL",
                currency="EUR",
                actor=actor,
                clock=rt.clock,
                kms=rt.kms,
            )
            create_user(
                uow.session,
                tenant_id=tenant.id,
                email=DEMO_EMAIL,
                role="owner",
                password=DEMO_PASSWORD,
                totp_secret=DEMO_TOTP_SECRET,
                actor=actor,
                clock=rt.clock,
                kms=rt.kms,
            )
            return tenant, keys.publishable_key, keys.secret_key
        uow.bind_tenant(tenant.id)
        publishable = issue_key(
            uow.session,
            tenant_id=tenant.id,
            kind=KeyKind.PUBLISHABLE,
            mode=KeyMode.TEST,
            actor=actor,
            clock=rt.clock,
            kms=rt.kms,
        )
        secret = issue_key(
            uow.session,
            tenant_id=tenant.id,
            kind=KeyKind.SECRET,
            mode=KeyMode.TEST,
            actor=actor,
            clock=rt.clock,
            kms=rt.kms,
        )
        return tenant, publishable, secret


def run_demo(rt: Runtime, *, host: str, port: int) -> None:
    settings = rt.settings
    click.echo("Migrating the demo database …")
    upgrade(settings)
    tenant, publishable, secret = seed(rt)
    stop = threading.Event()
    threads = [run_worker_thread(rt, stop), run_cron_thread(rt, stop)]
    base = f"http://{host}:{port}"
    server = make_server(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]
    click.echo(
        "\n".join(
            (
                "",
                "Kassa demo is running (SQLite + in-process Redis + worker thread). Ctrl-C stops it.",
                "",
                f"  Portal:        {base}/portal/login",
                f"    Email:       {DEMO_EMAIL}",
                f"    Password:    {DEMO_PASSWORD}",
                f"    Authentication code: TOTP of secret {DEMO_TOTP_SECRET}",
                f'      (add it to an authenticator app, or run: python -c "import pyotp; '
                f"print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())\"; "
                f"now: {pyotp.TOTP(DEMO_TOTP_SECRET).now()})",
                f"  API:           {base}/api/v1   (Authorization: Bearer {secret})",
                f"  Publishable:   {publishable}",
                f"  Health:        {base}/healthz",
                f"  Tenant:        {tenant.name} ({tenant.id})",
                "",
            )
        )
    )
    try:
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches the KeyboardInterrupt)
    finally:
        click.echo("\nStopping …")
        stop.set()
        server.server_close()
        for thread in threads:
            thread.join(timeout=5)
        rt.db.dispose()
