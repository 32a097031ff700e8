"""The production PostgreSQL roles: a non-superuser owner, an unprivileged application role, and a NOLOGIN
BYPASSRLS definer role that owns the SECURITY DEFINER functions and nothing else (docs/operations.md,
"Database roles"). CI (.ci/run) runs the whole suite that way; the scratch-cluster tests below replay a
deployment from nothing: bootstrap as a superuser once, then `kassa db upgrade` as the owner, twice.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url

from core.config import Settings
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.migrate import DEFINER_PRIVILEGES, RolesNotReady, app_role_name, upgrade
from tests.fixtures import CheckedClient, admin_url, is_postgres, skip_or_fail
from tests.payments_helpers import auth
from wsgi import create_app

#: The SECURITY DEFINER functions, all owned by the definer role.
DEFINER_FUNCTIONS = {
    "kassa_events_prune",
    "kassa_checkout_session_tenant",
    "kassa_invitation_tenant",
    "kassa_key_owner",
    "kassa_memberships_of",
    "kassa_outbox_due",
    "kassa_outbox_oldest",  # the outbox lag metric: one timestamp, no row (migration 0035)
    "kassa_outbox_prune",
    "kassa_payment_link_tenant",
}


def _role(conn: Connection, name: str) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb FROM pg_roles "
                "WHERE rolname = :r"
            ),
            {"r": name},
        )
        .mappings()
        .one()
    )
    return dict(row)


def _owned(conn: Connection, role: str) -> dict[str, set[str]]:
    """What `role` owns in this database: relations (tables, views, sequences...), functions, schemas."""
    params = {"r": role}
    return {
        "relations": set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE pg_get_userbyid(c.relowner) = :r AND n.nspname NOT IN ('pg_catalog', "
                    "'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                ),
                params,
            ).scalars()
        ),
        "functions": set(
            conn.execute(
                text(
                    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE pg_get_userbyid(p.proowner) = :r AND n.nspname NOT IN ('pg_catalog', "
                    "'information_schema')"
                ),
                params,
            ).scalars()
        ),
        "schemas": set(
            conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) = :r"), params
            ).scalars()
        ),
    }


def _member(conn: Connection, member: str, role: str) -> bool:
    return bool(conn.execute(text("SELECT pg_has_role(:m, :r, 'MEMBER')"), {"m": member, "r": role}).scalar())


# --- the suite's own database ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_roles_have_only_the_privileges_they_need(settings: Settings, rt: Runtime) -> None:
    owner = make_url(settings.database_url).username or ""
    app, definer = app_role_name(settings), settings.definer_role
    with rt.db.owner_engine.connect() as conn:
        owner_flags = _role(conn, owner)
        if owner_flags["rolsuper"]:
            skip_or_fail(
                f"the owner role {owner} is a superuser: run with a non-superuser owner, as .ci/run does"
            )
        app_flags, definer_flags = _role(conn, app), _role(conn, definer)
        owned_by_app, owned_by_definer = _owned(conn, app), _owned(conn, definer)
        secdef = dict(
            conn.execute(
                text(
                    "SELECT proname, pg_get_userbyid(proowner) FROM pg_proc "
                    "WHERE pronamespace = 'public'::regnamespace AND prosecdef"
                )
            ).all()
        )
        tables_by_app = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = :r"), {"r": app}
        ).scalar_one()
        app_in = {role: _member(conn, app, role) for role in (owner, definer)}
        owner_in_definer = _member(conn, owner, definer)
    assert (owner_flags["rolsuper"], owner_flags["rolbypassrls"]) == (False, False)
    assert (app_flags["rolsuper"], app_flags["rolbypassrls"], app_flags["rolcanlogin"]) == (
        False,
        False,
        True,
    )
    assert (app_flags["rolcreaterole"], app_flags["rolcreatedb"]) == (False, False)
    assert tables_by_app == 0 and owned_by_app == {"relations": set(), "functions": set(), "schemas": set()}
    assert app_in == {owner: False, definer: False}
    assert (definer_flags["rolcanlogin"], definer_flags["rolbypassrls"], definer_flags["rolsuper"]) == (
        False,
        True,
        False,
    )
    assert owned_by_definer == {"relations": set(), "functions": DEFINER_FUNCTIONS, "schemas": set()}
    assert secdef == dict.fromkeys(DEFINER_FUNCTIONS, definer)
    assert owner_in_definer  # so `kassa db upgrade` can hand it new functions


@pytest.mark.postgres
def test_every_table_with_a_tenant_id_is_keyed_by_it_and_forces_row_level_security(rt: Runtime) -> None:
    with rt.db.owner_engine.connect() as conn:
        rows = conn.execute(
            text("""
                SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy,
                       EXISTS (
                           SELECT 1 FROM pg_index i JOIN pg_attribute a
                             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                           WHERE i.indrelid = c.oid AND i.indisprimary AND a.attname = 'tenant_id'
                       ) AS keyed
                FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid AND t.attname = 'tenant_id'
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                  AND NOT t.attisdropped
                ORDER BY 1
            """)
        ).all()
    names = {row[0] for row in rows}
    assert {"outbox", "payments", "api_keys"} <= names
    wrong = [row for row in rows if not all(row[1:])]
    assert wrong == [], "(table, ENABLE, FORCE, policy, tenant_id in the primary key)"


def test_every_table_with_a_tenant_id_has_it_in_its_primary_key(rt: Runtime) -> None:
    # The same rule on whichever database the suite runs (SQLite too), from the migrated schema.
    with rt.db.owner_engine.connect() as conn:
        schema = inspect(conn)
        wrong = [
            name
            for name in schema.get_table_names()
            if "tenant_id" in {c["name"] for c in schema.get_columns(name)}
            and "tenant_id" not in schema.get_pk_constraint(name)["constrained_columns"]
        ]
    assert wrong == []


# --- a scratch database and roles: a deployment from nothing ---------------------------------------------


@dataclass
class Scratch:
    admin: str
    settings: Settings
    owner: str
    app: str
    definer: str
    database: str


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgresql"):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL (bash .ci/run does)")
    from core.config import with_driver

    settings = Settings(database_url=with_driver(base))
    admin = admin_url(settings) if is_postgres(settings) else None
    if admin is None:
        skip_or_fail("needs a superuser: set DATABASE_ADMIN_URL (bash .ci/run does)")
        raise AssertionError  # unreachable
    tag = secrets.token_hex(4)
    owner, app, definer, database = (f"kassa_t{tag}_{part}" for part in ("owner", "app", "definer", "db"))
    url = make_url(base)
    owner_url = url.set(drivername="postgresql+psycopg", username=owner, password=None, database=database)
    app_url = owner_url.set(username=app)
    made = Scratch(
        admin=admin,
        settings=Settings(
            database_url=owner_url.render_as_string(hide_password=False),
            database_app_url=app_url.render_as_string(hide_password=False),
            definer_role=definer,
            secret_key="test-secret-key-" + "x" * 32,
            base_url="http://127.0.0.1",
            environment="test",
            log_level="WARNING",
            redis_url="fakeredis://",
        ),
        owner=owner,
        app=app,
        definer=definer,
        database=database,
    )
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # What an operator's provisioning does: a plain owner role, and a database it owns.
            conn.execute(text(f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE"))
            conn.execute(text(f"CREATE DATABASE {database} OWNER {owner}"))
        yield made
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            for role in (app, definer, owner):
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        engine.dispose()


def _admin(scratch: Scratch, sql: str) -> None:
    engine = create_engine(scratch.admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def scratch_app(scratch: Scratch) -> Iterator[Any]:
    previous = runtime_module._current
    runtime = runtime_module.build(scratch.settings)
    application = create_app(scratch.settings, runtime=runtime)
    application.test_client_class = CheckedClient
    try:
        yield application
    finally:
        runtime.db.dispose()
        runtime_module._current = previous


@pytest.mark.postgres
def test_a_deployment_from_nothing_with_a_plain_owner_role(scratch: Scratch, scratch_app: Any) -> None:
    runner = scratch_app.test_cli_runner()
    # Before the bootstrap, the owner cannot make the BYPASSRLS definer role: upgrade says what to run.
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 1 and "kassa db bootstrap-roles" in result.output, result.output
    assert f"{scratch.definer!r}" in result.output

    # The bootstrap as a superuser, twice (idempotent); then upgrade as the owner, twice.
    for _ in range(2):
        result = runner.invoke(args=["db", "bootstrap-roles", "--admin-url", scratch.admin])
        assert result.exit_code == 0, result.output
    for _ in range(2):
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0 and "up to date" in result.output, result.output

    # A tenant made by the CLI can open a checkout session with its key, and a shopper can open the page:
    # the lookups (SECURITY DEFINER) see through FORCE ROW LEVEL SECURITY.
    args = ["tenants", "create", "--name", "Acme", "--slug", "acme", "--country", "DE", "--currency", "EUR"]
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    keys = json.loads(result.output)
    client = scratch_app.test_client()
    created = client.post(
        "/api/v1/checkout/sessions",
        json={"amount": 2500, "currency": "EUR"},
        headers=auth(keys["secret_key"]),
    )
    assert created.status_code == 201, created.get_json()
    page = client.get(f"/pay/{created.get_json()['id']}")
    assert page.status_code == 200 and "Card number" in page.get_data(as_text=True)

    engine = create_engine(
        make_url(scratch.admin).set(database=scratch.database), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            assert _role(conn, scratch.owner)["rolsuper"] is False
            assert _role(conn, scratch.definer)["rolbypassrls"] is True
            assert _owned(conn, scratch.definer)["functions"] == DEFINER_FUNCTIONS
            assert _owned(conn, scratch.definer)["relations"] == set()
            assert _owned(conn, scratch.app)["relations"] == set()
            granted = set(
                conn.execute(
                    text(
                        "SELECT DISTINCT table_name FROM information_schema.role_table_grants "
                        "WHERE grantee = :r"
                    ),
                    {"r": scratch.definer},
                ).scalars()
            )
    finally:
        engine.dispose()
    assert granted == set(DEFINER_PRIVILEGES)  # the definer reads only what its functions read


@pytest.mark.postgres
def test_upgrade_refuses_an_app_role_that_could_bypass_security_and_leaves_it_alone(
    scratch: Scratch, scratch_app: Any
) -> None:
    runner = scratch_app.test_cli_runner()
    assert runner.invoke(args=["db", "bootstrap-roles", "--admin-url", scratch.admin]).exit_code == 0
    _admin(scratch, f"ALTER ROLE {scratch.app} BYPASSRLS")
    try:
        with pytest.raises(RolesNotReady, match="BYPASSRLS") as info:
            upgrade(scratch.settings)
        assert "kassa db bootstrap-roles" in str(info.value)
        engine = create_engine(scratch.admin)
        try:
            with engine.connect() as conn:
                assert _role(conn, scratch.app)["rolbypassrls"] is True  # refused, not altered
        finally:
            engine.dispose()
        # The bootstrap (a superuser) corrects it; then the owner's upgrade passes again.
        result = runner.invoke(args=["db", "bootstrap-roles", "--admin-url", scratch.admin])
        assert result.exit_code == 0 and f"corrected the role {scratch.app}" in result.output, result.output
        upgrade(scratch.settings)
    finally:
        _admin(scratch, f"ALTER ROLE {scratch.app} NOBYPASSRLS")


@pytest.mark.postgres
def test_upgrade_refuses_an_owner_that_is_not_a_member_of_the_definer_role(
    scratch: Scratch, scratch_app: Any
) -> None:
    runner = scratch_app.test_cli_runner()
    assert runner.invoke(args=["db", "bootstrap-roles", "--admin-url", scratch.admin]).exit_code == 0
    _admin(scratch, f"REVOKE {scratch.definer} FROM {scratch.owner}")
    try:
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 1 and "not a member" in result.output, result.output
        assert "kassa db bootstrap-roles" in result.output
    finally:
        _admin(scratch, f"GRANT {scratch.definer} TO {scratch.owner}")
