"""Fixtures shared by the whole suite.

Without DATABASE_URL / REDIS_URL the suite runs on a temporary SQLite file and the in-process Redis
stand-in, and PostgreSQL-only tests skip with a reason. With them (CI, `.ci/run`) it runs on the real
servers; KASSA_REQUIRE_ALL=1 turns a skipped PostgreSQL, Redis or browser test into a failure.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from core.config import CHEAP_PASSWORD_HASHING, DEFINER_ROLE, Settings, with_driver
from core.db import Base
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.migrate import upgrade
from tenants import passwords
from tests.factories import (
    Builder,
    CheckoutSessionFactory,
    EventFactory,
    PaymentFactory,
    RefundFactory,
    TenantFactory,
)
from wsgi import create_app

REQUIRED_MARKERS = ("postgres", "redis", "browser")
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under KASSA_REQUIRE_ALL=1 a skipped PostgreSQL, Redis or browser test counts as failed."""
    report = yield
    if (
        os.environ.get("KASSA_REQUIRE_ALL") == "1"
        and report.skipped
        and any(item.get_closest_marker(m) for m in REQUIRED_MARKERS)
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} was skipped, but KASSA_REQUIRE_ALL=1 requires it to run: {report.longrepr}"
        )
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `postgres` or `redis` runs only where that server is: skipped on a fresh clone's
    SQLite and in-process Redis (`make test` without DATABASE_URL/REDIS_URL), a failure under
    KASSA_REQUIRE_ALL=1."""
    if item.get_closest_marker("postgres") and not with_driver(os.environ.get("DATABASE_URL", "")).startswith(
        "postgresql"
    ):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL (bash .ci/run does)")
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL", "").startswith(
        ("redis", "rediss")
    ):
        skip_or_fail("needs Redis: set REDIS_URL (bash .ci/run does)")


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_driver(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'kassa-test.sqlite3'}"


def is_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=_database_url(tmp_path_factory),
        database_app_url=with_driver(os.environ.get("DATABASE_APP_URL", "")) or None,
        definer_role=os.environ.get("DATABASE_DEFINER_ROLE", "").strip() or DEFINER_ROLE,
        redis_url=os.environ.get("REDIS_URL", "fakeredis://"),
        secret_key="test-secret-key-" + "x" * 32,
        base_url="http://127.0.0.1",
        environment="test",
        log_level="WARNING",
        # Receipts from payments tests land here; the mail tests point this at their own SMTP server.
        mail_url=f"file:{tmp_path_factory.mktemp('mail')}",
        # argon2id at argon2's minimum cost: real hashes and verifications in microseconds (at full cost
        # argon2 was a quarter of the suite's time). Refused outside KASSA_ENV=test on localhost.
        password_hashing=CHEAP_PASSWORD_HASHING,
    )


def _reset_postgres(settings: Settings) -> None:
    from core.db import make_engine

    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Settings:
    if is_postgres(settings):
        _reset_postgres(settings)
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def rt(migrated: Settings) -> Iterator[Runtime]:
    runtime = runtime_module.configure(migrated)
    passwords.configure(migrated)  # as create_app does: factories hash passwords without an app
    yield runtime
    runtime.db.dispose()


def _truncate(rt: Runtime) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # A browser test's live server or worker thread may still be finishing the previous test's last
    # transaction (an outbox row, a status poll): TRUNCATE then meets its row locks and PostgreSQL may
    # pick the TRUNCATE as the deadlock victim. Wait a moment and try again; a real hang still fails.
    for attempt in range(5):
        try:
            with rt.db.owner_engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                    conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
                else:
                    for table in tables:
                        conn.execute(text(f"DELETE FROM {table}"))
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


_INSPECTORS: dict[str, Engine] = {}


def admin_url(settings: Settings) -> str | None:
    """A superuser's URL for tests that need one (DATABASE_ADMIN_URL, set by .ci/run), pointed at the
    suite's database; else the owner's, when the owner is the superuser (a developer's local run)."""
    url = with_driver(os.environ.get("DATABASE_ADMIN_URL", ""))
    if not url:
        return (
            settings.database_url if is_postgres(settings) and _is_superuser(settings.database_url) else None
        )
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .set(database=make_url(settings.database_url).database)
        .render_as_string(hide_password=False)
    )


@functools.cache
def _is_superuser(url: str) -> bool:
    from core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            )
    finally:
        engine.dispose()


def inspector(rt: Runtime) -> Engine:
    """An engine that sees every row of every tenant, for tests that inspect or tamper with the database
    (the application never has one). On SQLite the owner's; on PostgreSQL a superuser's (`admin_url`),
    because FORCE ROW LEVEL SECURITY hides every tenant row from the non-superuser owner."""
    if not rt.db.is_postgres:
        return rt.db.owner_engine
    url = admin_url(rt.settings)
    if url is None:
        pytest.fail(
            "this test inspects every tenant's rows: set DATABASE_ADMIN_URL to a superuser's URL "
            "(the owner role is not one, and row-level security binds it)"
        )
    if url not in _INSPECTORS:
        from core.db import make_engine

        _INSPECTORS[url] = make_engine(url)
    return _INSPECTORS[url]


@pytest.fixture
def clean(rt: Runtime) -> Runtime:
    """A runtime over empty tables and an empty Redis database."""
    _truncate(rt)
    rt.db.cache.clear()  # what the process kept of the tenants just truncated (core/tenant_cache.py)
    rt.redis.flushdb()
    runtime_module.install(rt)
    passwords.configure(rt.settings)  # an app made with other settings may have installed another hasher
    return rt


class CheckedClient(FlaskClient):
    """A test client that fails the test when any response lacks the security headers.

    Like a browser, it says which language it reads (English): a test of the language fallback sends an
    empty Accept-Language."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().open(*args, **kwargs)
        missing = [h for h in SECURITY_HEADERS if h not in response.headers]
        assert not missing, f"{response.request.path} answered without {missing}"
        csp = response.headers["Content-Security-Policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors" in csp
        assert "'nonce-" in csp
        return response


@pytest.fixture(scope="session")
def translations() -> Path:
    """The compiled catalogs the app loads. `make install` builds them; a bare `pytest` after a fresh clone
    (or after a .po changed) compiles them here, as `pybabel compile` would."""
    directory = Path(__file__).resolve().parent.parent / "translations"
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        # Written aside, then renamed: another test process may be loading the same catalog.
        fd, temporary = tempfile.mkstemp(dir=po_path.parent, prefix=".messages-", suffix=".mo")
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog)
        os.chmod(temporary, 0o644)
        os.replace(temporary, mo_path)
    return directory


@pytest.fixture(scope="session")
def app(rt: Runtime, migrated: Settings, translations: Path) -> Flask:
    application = create_app(migrated, runtime=rt)
    application.test_client_class = CheckedClient
    return application


@pytest.fixture
def client(app: Flask, clean: Runtime) -> FlaskClient:
    return app.test_client()


@dataclass
class Factories:
    """tests/factories.py bound to the test's runtime: `make.tenants()`, `make.payments(tenant=t)`, …"""

    tenants: Builder
    sessions: Builder
    payments: Builder
    refunds: Builder
    events: Builder


@pytest.fixture
def make(clean: Runtime) -> Factories:
    return Factories(
        tenants=Builder(TenantFactory, clean),
        sessions=Builder(CheckoutSessionFactory, clean),
        payments=Builder(PaymentFactory, clean),
        refunds=Builder(RefundFactory, clean),
        events=Builder(EventFactory, clean),
    )


def skip_or_fail(reason: str) -> None:
    """Skip locally; under KASSA_REQUIRE_ALL=1 (CI) a missing PostgreSQL, Redis or browser is a failure."""
    if os.environ.get("KASSA_REQUIRE_ALL") == "1":
        pytest.fail(f"KASSA_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


ROOT = Path(__file__).resolve().parent.parent
