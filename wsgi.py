"""Composition root: `create_app()` and the `kassa` command-line group (its commands live in `cli/`).

Gunicorn serves `wsgi:create_app()`; `KASSA_SURFACES=checkout` makes a process that serves only the
PCI-scoped checkout. Everything is wired here and nowhere else: no module builds an app, an engine or a
Redis connection when imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from werkzeug.middleware.proxy_fix import ProxyFix

from cli import COMMANDS
from core import telemetry
from core.config import ConfigurationError, Settings
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.web import errors, health, i18n, logs, observe, security, templating
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
    telemetry.configure_tracing()  # OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; a no-op tracer otherwise
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
    observe.init_app(app)  # after the request id: each request's span and latency, and /metrics
    security.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(
        app, locale_selector=i18n.select_locale, default_translation_directories=str(ROOT / "translations")
    )
    i18n.init_app(app)
    templating.init_app(app)
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

    for command in COMMANDS:
        app.cli.add_command(command)
    return app


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
