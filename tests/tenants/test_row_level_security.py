"""The PostgreSQL half of tenant isolation, checked as the application role with raw SQL (no ORM help).

Every tenant table comes from the metadata, so a new table is covered the day it is added, and the first
test fails if it has no rows to prove anything with (add it to the seed in `two_tenants`).

Each check runs twice: straight to PostgreSQL, and through a real pgbouncer in transaction pooling mode
(tests/pgbouncer.py), where one client's transactions run on whichever server connection is free: the
proof that `SET LOCAL` never carries a tenant from one pooled connection to the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg.types.json import Json
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from core.config import Settings
from core.db import make_engine, tenant_tables
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.migrate import APPEND_ONLY, app_role_name
from tests.factories import MadeTenant, seed_every_table
from tests.fixtures import Factories, inspector

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_tenants(make: Factories, clean: Runtime) -> tuple[MadeTenant, MadeTenant]:
    a, b = make.tenants(), make.tenants()
    seed_every_table(clean, a)
    seed_every_table(clean, b)
    return a, b


@dataclass(frozen=True)
class AppRoute:
    """How the application role reaches PostgreSQL in this run of a check."""

    url: str
    #: `DATABASE_POOLER` for this route ("transaction" through pgbouncer).
    pooler: str

    def engine(self, **kwargs: Any) -> Engine:
        return make_engine(self.url, pooler=self.pooler, **kwargs)


@pytest.fixture(params=["direct", "pgbouncer"])
def app_route(request: pytest.FixtureRequest, settings: Settings) -> AppRoute:
    if request.param == "pgbouncer":
        return AppRoute(request.getfixturevalue("pgbouncer").app_url, "transaction")
    return AppRoute(settings.app_database_url, "")


@pytest.fixture
def app_engine(app_route: AppRoute, clean: Runtime) -> Iterator[Engine]:
    engine = app_route.engine()
    yield engine
    engine.dispose()


@pytest.fixture
def app_conn(app_engine: Engine) -> Iterator[Connection]:
    with app_engine.connect() as conn:
        yield conn


def _as_tenant(conn: Connection, tenant_id: str | None) -> None:
    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id or ""})


def _count(conn: Connection, table: str, where: str = "TRUE", **params: Any) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar_one())


def _owner_count(rt: Runtime, table: str, tenant_id: str) -> int:
    with inspector(rt).connect() as conn:
        return _count(conn, table, "tenant_id = :t", t=tenant_id)


def test_every_tenant_table_has_rows_of_both_tenants(
    two_tenants: tuple[MadeTenant, MadeTenant], clean: Runtime
) -> None:
    a, b = two_tenants
    for table in tenant_tables():
        assert _owner_count(clean, table, a.id) > 0, f"seed {table} in this test's fixture"
        assert _owner_count(clean, table, b.id) > 0, f"seed {table} in this test's fixture"


def _rows_changed(conn: Connection, tenant_id: str, sql: str, **params: Any) -> int | str:
    """Run one statement as `tenant_id` in its own transaction: rows touched, or "denied" by a grant."""
    try:
        with conn.begin():
            _as_tenant(conn, tenant_id)
            return int(conn.execute(text(sql), params).rowcount)
    except DBAPIError as exc:
        assert "permission denied" in str(exc.orig), exc
        return "denied"


def test_tenant_a_sees_and_reaches_no_row_of_tenant_b(
    two_tenants: tuple[MadeTenant, MadeTenant], clean: Runtime, app_conn: Connection
) -> None:
    a, b = two_tenants
    for table in tenant_tables():
        with app_conn.begin():
            _as_tenant(app_conn, a.id)
            assert _count(app_conn, table, "tenant_id = :b", b=b.id) == 0, table
            assert _count(app_conn, table) == _owner_count(clean, table, a.id), table
        before = _owner_count(clean, table, b.id)
        update = f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = :b"
        delete = f"DELETE FROM {table} WHERE tenant_id = :b"
        assert _rows_changed(app_conn, a.id, update, b=b.id) in (0, "denied"), table
        assert _rows_changed(app_conn, a.id, delete, b=b.id) in (0, "denied"), table
        assert _owner_count(clean, table, b.id) == before, table


def test_audit_events_are_append_only_for_the_application(
    two_tenants: tuple[MadeTenant, MadeTenant], app_conn: Connection
) -> None:
    a, _ = two_tenants
    assert _rows_changed(app_conn, a.id, "UPDATE audit_events SET actor_id = 'x'") == "denied"
    assert _rows_changed(app_conn, a.id, "DELETE FROM audit_events") == "denied"


def test_tenant_a_cannot_write_a_row_into_tenant_b(
    two_tenants: tuple[MadeTenant, MadeTenant], clean: Runtime, app_conn: Connection
) -> None:
    a, b = two_tenants
    for table in tenant_tables():
        with app_conn.begin():
            _as_tenant(app_conn, a.id)
            row = {
                name: Json(value) if isinstance(value, dict | list) else value
                for name, value in app_conn.execute(text(f"SELECT * FROM {table} LIMIT 1"))
                .mappings()
                .one()
                .items()
            }
        row.update(_unique_values(table, row))
        row["tenant_id"] = b.id
        columns = ", ".join(f'"{c}"' for c in row)  # quoted: a column may be a keyword ("end")
        values = ", ".join(f":{c}" for c in row)
        with pytest.raises(DBAPIError, match="row-level security"), app_conn.begin():
            _as_tenant(app_conn, a.id)
            app_conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)
        if table not in APPEND_ONLY:  # append-only: UPDATE is not granted at all
            with pytest.raises(DBAPIError, match="row-level security"), app_conn.begin():
                _as_tenant(app_conn, a.id)
                app_conn.execute(text(f"UPDATE {table} SET tenant_id = :b"), {"b": b.id})


def _unique_values(table: str, row: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {"id": "USD" if table == "payout_schedules" else new_id("key")}
    if "key_hash" in row:
        changes["key_hash"] = "f" * 64
    if "token_hash" in row:
        changes["token_hash"] = "e" * 64
    if "seq" in row:
        changes["seq"] = 10_000
    return changes


def test_with_no_tenant_set_every_tenant_table_is_empty(
    two_tenants: tuple[MadeTenant, MadeTenant], app_conn: Connection
) -> None:
    for table in tenant_tables():
        with app_conn.begin():
            assert _count(app_conn, table) == 0, table
            _as_tenant(app_conn, None)
            assert _count(app_conn, table) == 0, table


def test_a_transaction_without_a_tenant_after_a_tenants_work_on_the_same_connection_sees_nothing(
    two_tenants: tuple[MadeTenant, MadeTenant], app_route: AppRoute
) -> None:
    """A unit of work that begins with no tenant sends no `set_config` (core/db.py): that is only safe
    because a tenant is only ever SET LOCAL, so commit, rollback and a rollback to a savepoint all leave a
    pooled connection seeing no tenant's rows. One pooled connection, so each step reuses it."""
    from core.db import Database

    a, _ = two_tenants
    db = Database(app_route.url, pooler=app_route.pooler, pool_size=1, max_overflow=0)
    try:

        def visible() -> int:
            with db.unit_of_work() as uow:
                return int(uow.session.execute(text("SELECT count(*) FROM payments")).scalar_one())

        with db.unit_of_work(tenant_id=a.id) as uow:
            assert uow.session.execute(text("SELECT count(*) FROM payments")).scalar_one() > 0
        assert visible() == 0  # after a commit
        with pytest.raises(RuntimeError), db.unit_of_work(tenant_id=a.id) as uow:
            uow.session.execute(text("SELECT 1 FROM payments"))
            raise RuntimeError("roll back")
        assert visible() == 0  # after a rollback
        with db.unit_of_work() as uow:
            savepoint = uow.session.begin_nested()
            uow.session.bind_tenant(a.id)
            assert uow.session.execute(text("SELECT count(*) FROM payments")).scalar_one() > 0
            savepoint.rollback()  # undoes the SET LOCAL: the tenant is unknown now, not assumed
            uow.session.bind_tenant(None)
            assert uow.session.execute(text("SELECT count(*) FROM payments")).scalar_one() == 0
        assert visible() == 0
    finally:
        db.engine.dispose()


def test_every_tenant_table_forces_row_level_security(clean: Runtime) -> None:
    with clean.db.owner_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(:t)"),
            {"t": tenant_tables()},
        ).all()
        policies = {
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'")
            )
        }
    assert {r[0] for r in rows} == set(tenant_tables())
    assert all(r[1] and r[2] for r in rows), rows
    assert policies >= set(tenant_tables())


def test_the_application_role_cannot_bypass_security(clean: Runtime, app_engine: Engine) -> None:
    with app_engine.connect() as conn:
        role = conn.execute(text("SELECT current_user")).scalar_one()
        flags = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owned = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        ).scalar_one()
    assert role == app_role_name(clean.settings)
    assert (flags[0], flags[1]) == (False, False)
    assert owned == 0


def test_the_tenant_setting_does_not_survive_the_transaction(
    two_tenants: tuple[MadeTenant, MadeTenant], app_route: AppRoute
) -> None:
    """Directly: the same pooled connection, borrowed again. Through pgbouncer: another client
    connection, which pgbouncer (last in, first out) hands the server connection the first one used."""
    a, _ = two_tenants
    first = app_route.engine(pool_size=1, max_overflow=0)
    second = app_route.engine(pool_size=1, max_overflow=0) if app_route.pooler else first
    try:
        with first.connect() as conn, conn.begin():
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            _as_tenant(conn, a.id)
            assert _count(conn, "api_keys") > 0
        with second.connect() as conn, conn.begin():
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == backend
            assert conn.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar_one() in (
                None,
                "",
            )
            assert _count(conn, "api_keys") == 0
    finally:
        first.dispose()
        second.dispose()
