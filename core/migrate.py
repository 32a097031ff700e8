"""`kassa db upgrade`: Alembic migrations as the owner role, then the roles' grants.

Three PostgreSQL roles (docs/operations.md, "Database roles"; docs/security.md says why):

* the **owner** (`DATABASE_URL`): owns the database, the schema and every table; runs the migrations. It
  is not superuser and not `BYPASSRLS`, so `FORCE ROW LEVEL SECURITY` binds it too;
* the **application role** (`DATABASE_APP_URL`, default `kassa_app`): every request, job and CLI command.
  `LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`, owns nothing, member of no other Kassa role;
* the **definer role** (`DATABASE_DEFINER_ROLE`, default `kassa_definer`): `NOLOGIN BYPASSRLS`, owns the
  `SECURITY DEFINER` functions that answer the few cross-tenant questions, and nothing else; it may read
  only the tables those functions read (`DEFINER_PRIVILEGES`).

Creating a `BYPASSRLS` role takes a superuser, once: `kassa db bootstrap-roles` (`bootstrap_roles`). After
that `upgrade` runs as the owner, any number of times, and never changes a role's attributes: it checks
them and refuses, naming the bootstrap, when they are wrong. A superuser owner (a developer's local
`postgres`) creates the missing roles itself.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core.config import APP_ROLE, ConfigurationError, Settings
from core.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Tables the application role may read and append to but never change: the evidence.
APPEND_ONLY = (
    "audit_events",
    "payment_status_history",
    "events",
    "ledger_journals",
    "ledger_entries",
    "audit_verifications",
)
#: What the definer role may do, table by table: exactly what its functions need (a new SECURITY DEFINER
#: function that reads another table adds it here, or fails with "permission denied" on every PostgreSQL).
DEFINER_PRIVILEGES = {
    "api_keys": "SELECT",
    "memberships": "SELECT",
    "invitations": "SELECT",
    "checkout_sessions": "SELECT",
    "payment_links": "SELECT",
    # The relay's claim locks rows (FOR UPDATE needs an UPDATE privilege); pruning deletes delivered rows.
    "outbox": "SELECT, DELETE, UPDATE (delivered_at)",
    # Event retention (kassa_events_prune): old events go, those a delivery still retries stay.
    "events": "SELECT, DELETE",
    "webhook_deliveries": "SELECT",
}
APP_ATTRIBUTES = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
DEFINER_ATTRIBUTES = "NOLOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
OWNER_ATTRIBUTES = "LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE NOCREATEDB"
BOOTSTRAP = "as a superuser, run `kassa db bootstrap-roles` once (docs/operations.md, 'Database roles')"


class RolesNotReady(ConfigurationError):
    """The PostgreSQL roles are missing or have the wrong attributes; the message says what to run."""


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    definer: str


@functools.cache
def head_revision() -> str | None:
    """The newest migration of this code (the script directory's single head)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated). The application role may read it."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def alembic_config(url: str) -> Config:
    # Alembic is imported when a migration question is asked, not with this module: the web app imports
    # it for its readiness probe and a worker never asks (about 12 MB of a process's memory).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            roles = check_roles(connection, settings) if connection.dialect.name == "postgresql" else None
            config = alembic_config(settings.database_url)
            config.attributes["connection"] = connection
            from alembic import command

            command.upgrade(config, revision)
            if roles is not None:
                grant_roles(connection, roles)
    finally:
        engine.dispose()


def app_role_name(settings: Settings) -> str:
    return make_url(settings.app_database_url).username or APP_ROLE


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _role(connection: Connection, name: str) -> dict[str, bool] | None:
    row = (
        connection.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, rolcreatedb "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": name},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _is_member(connection: Connection, member: str, role: str) -> bool:
    return bool(
        connection.execute(text("SELECT pg_has_role(:m, :r, 'MEMBER')"), {"m": member, "r": role}).scalar()
    )


def _create_role(connection: Connection, name: str, attributes: str, password: str | None = None) -> None:
    """CREATE ROLE, tolerating a concurrent creator (roles are cluster-wide: two upgrades may race)."""
    if _role(connection, name) is not None:
        return
    try:
        with connection.begin_nested():
            connection.execute(text(f"CREATE ROLE {_quote(connection, name)} {attributes}"))
    except DBAPIError:
        if _role(connection, name) is None:
            raise
        return
    if password:
        _set_password(connection, name, password)


def _set_password(connection: Connection, name: str, password: str) -> None:
    # Identifiers and literals cannot be bound in DDL; format() quotes both server-side.
    sql = connection.execute(
        text("SELECT format('ALTER ROLE %I PASSWORD %L', :r, :p)"), {"r": name, "p": password}
    ).scalar_one()
    connection.execute(text(sql))


def _try_set_password(connection: Connection, name: str, password: str) -> None:
    """Set an existing role's password where the owner may (PostgreSQL 15 lets a CREATEROLE role do it;
    16 and later only for roles it administers); else leave it to `kassa db bootstrap-roles`."""
    try:
        with connection.begin_nested():
            _set_password(connection, name, password)
    except DBAPIError as exc:
        log.warning(
            "could not set the password of %s (%s): kassa db bootstrap-roles sets it as a superuser",
            name,
            type(exc.orig).__name__,
        )


def _app_problems(attributes: dict[str, bool]) -> list[str]:
    wrong = {
        "SUPERUSER": attributes["rolsuper"],
        "BYPASSRLS": attributes["rolbypassrls"],
        "NOLOGIN": not attributes["rolcanlogin"],
        "CREATEROLE": attributes["rolcreaterole"],
        "CREATEDB": attributes["rolcreatedb"],
    }
    return [name for name, bad in wrong.items() if bad]


def _definer_problems(attributes: dict[str, bool]) -> list[str]:
    wrong = {
        "SUPERUSER": attributes["rolsuper"],
        "NOBYPASSRLS": not attributes["rolbypassrls"],
        "LOGIN": attributes["rolcanlogin"],
        "CREATEROLE": attributes["rolcreaterole"],
        "CREATEDB": attributes["rolcreatedb"],
    }
    return [name for name, bad in wrong.items() if bad]


def check_roles(connection: Connection, settings: Settings) -> Roles:
    """Check (and, where the owner may, create) the application and definer roles. Never ALTERs a role's
    attributes: a wrong one is refused with `RolesNotReady`, which names the fix."""
    owner = str(connection.execute(text("SELECT current_user")).scalar_one())
    app = app_role_name(settings)
    definer = settings.definer_role
    if app == owner:
        raise RolesNotReady(
            "DATABASE_APP_URL uses the owner role: the application must connect as a role that row-level "
            "security applies to. Leave DATABASE_APP_URL unset (role kassa_app) or name another role."
        )
    if definer in (owner, app):
        raise RolesNotReady(
            f"DATABASE_DEFINER_ROLE is {definer!r}, the {'owner' if definer == owner else 'application'} "
            "role: the SECURITY DEFINER functions need a NOLOGIN BYPASSRLS role of their own."
        )
    me = _role(connection, owner)
    superuser = bool(me and me["rolsuper"])

    found = _role(connection, definer)
    if found is None:
        if not superuser:
            raise RolesNotReady(
                f"The definer role {definer!r} (NOLOGIN BYPASSRLS, owner of the SECURITY DEFINER functions) "
                f"does not exist, and only a superuser can create a BYPASSRLS role: {BOOTSTRAP}."
            )
        _create_role(connection, definer, DEFINER_ATTRIBUTES)
    elif problems := _definer_problems(found):
        raise RolesNotReady(
            f"The definer role {definer!r} is {', '.join(problems)}; it must be {DEFINER_ATTRIBUTES}: "
            f"{BOOTSTRAP}, "
            "which corrects it."
        )
    if not superuser and not _is_member(connection, owner, definer):
        raise RolesNotReady(
            f"The owner role {owner!r} is not a member of the definer role {definer!r}, so it cannot hand it "
            f"the SECURITY DEFINER functions: {BOOTSTRAP} (it runs GRANT {definer} TO {owner})."
        )

    app_url = make_url(settings.app_database_url)
    found = _role(connection, app)
    if found is None:
        if not (superuser or (me and me["rolcreaterole"])):
            raise RolesNotReady(
                f"The application role {app!r} does not exist and {owner!r} cannot create it: {BOOTSTRAP}."
            )
        _create_role(connection, app, APP_ATTRIBUTES, app_url.password)
    else:
        if problems := _app_problems(found):
            raise RolesNotReady(
                f"The application role {app!r} is {', '.join(problems)}; it must be {APP_ATTRIBUTES}, or "
                f"row-level security would not bind it: {BOOTSTRAP}, which corrects it (or ALTER ROLE "
                f"{app} {APP_ATTRIBUTES} as a superuser)."
            )
        if app_url.password:
            _try_set_password(connection, app, app_url.password)
    for role in (owner, definer):
        if _is_member(connection, app, role):
            raise RolesNotReady(
                f"The application role {app!r} is a member of {role!r}, so it could act as that role "
                f"and step around row-level security: REVOKE {role} FROM {app} as a superuser."
            )
    return Roles(owner=owner, app=app, definer=definer)


def grant_roles(connection: Connection, roles: Roles) -> None:
    """The application role's DML, the definer role's reads, and the SECURITY DEFINER functions handed to
    the definer role. Idempotent; run after every migration."""
    app = _quote(connection, roles.app)
    definer = _quote(connection, roles.definer)
    database = _quote(connection, str(connection.execute(text("SELECT current_database()")).scalar_one()))
    run = [
        f"GRANT CONNECT ON DATABASE {database} TO {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        f"REVOKE ALL ON alembic_version FROM {app}",
        # `/readyz` asks whether the schema is at head; the application role reads the revision, no more.
        f"GRANT SELECT ON alembic_version TO {app}",
        *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {app}" for table in APPEND_ONLY),
        f"GRANT USAGE ON SCHEMA public TO {definer}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {definer}",
        *(f"GRANT {privileges} ON {table} TO {definer}" for table, privileges in DEFINER_PRIVILEGES.items()),
    ]
    for sql in run:
        connection.execute(text(sql))
    functions = connection.execute(
        text(
            "SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND NOT EXISTS "
            "(SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1"
        )
    ).all()
    # EXECUTE first, while the owner still owns a new function; the grant moves with the ownership.
    connection.execute(text(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {app}"))
    to_move = [signature for signature, function_owner in functions if function_owner != roles.definer]
    if to_move:
        # ALTER ... OWNER TO needs the new owner to have CREATE on the schema: only for this moment.
        connection.execute(text(f"GRANT CREATE ON SCHEMA public TO {definer}"))
        for signature in to_move:
            connection.execute(text(f"ALTER FUNCTION {signature} OWNER TO {definer}"))
        connection.execute(text(f"REVOKE CREATE ON SCHEMA public FROM {definer}"))


def bootstrap_roles(settings: Settings, admin_url: str) -> list[str]:
    """As a superuser (`admin_url`), once per cluster: create the owner role of `DATABASE_URL` (if it is not
    a superuser), the definer role, and the application role, and correct their attributes. Returns what it
    did, line by line. It does not create the database: `CREATE DATABASE kassa OWNER <owner>`."""
    owner_url = make_url(settings.database_url)
    owner = owner_url.username
    if owner_url.get_backend_name() != "postgresql" or not owner:
        raise ConfigurationError("DATABASE_URL must be a PostgreSQL URL with the owner role's user name.")
    app = app_role_name(settings)
    definer = settings.definer_role
    if len({owner, app, definer}) != 3:
        raise ConfigurationError(
            f"The owner ({owner}), application ({app}) and definer ({definer}) roles must be three roles."
        )
    done: list[str] = []
    engine = make_engine(admin_url)
    try:
        with engine.begin() as connection:
            me = _role(connection, str(connection.execute(text("SELECT current_user")).scalar_one()))
            if not (me and me["rolsuper"]):
                raise ConfigurationError(
                    "kassa db bootstrap-roles must connect as a superuser (DATABASE_ADMIN_URL, --admin-url): "
                    "only a superuser can create a BYPASSRLS role."
                )
            found = _role(connection, owner)
            if found is None:
                _create_role(connection, owner, OWNER_ATTRIBUTES, owner_url.password)
                done.append(f"created the owner role {owner} ({OWNER_ATTRIBUTES})")
            elif found["rolsuper"]:
                done.append(
                    f"the owner role {owner} is a superuser: fine for development, not for production"
                )
            else:
                done.append(f"the owner role {owner} exists")
            for name, attributes, problems in (
                (definer, DEFINER_ATTRIBUTES, _definer_problems),
                (app, APP_ATTRIBUTES, _app_problems),
            ):
                found = _role(connection, name)
                if found is None:
                    password = make_url(settings.app_database_url).password if name == app else None
                    _create_role(connection, name, attributes, password)
                    done.append(f"created the role {name} ({attributes})")
                elif problems(found):
                    connection.execute(text(f"ALTER ROLE {_quote(connection, name)} {attributes}"))
                    done.append(f"corrected the role {name} ({attributes})")
                else:
                    done.append(f"the role {name} exists")
                if (
                    found is not None
                    and name == app
                    and (password := make_url(settings.app_database_url).password)
                ):
                    _set_password(connection, app, password)
                    done.append(f"set the password of {app} from DATABASE_APP_URL")
            owner_found = _role(connection, owner)
            plain_owner = owner_found is not None and not owner_found["rolsuper"]
            if plain_owner and not _is_member(connection, owner, definer):
                connection.execute(
                    text(f"GRANT {_quote(connection, definer)} TO {_quote(connection, owner)}")
                )
                done.append(f"granted {definer} to {owner} (so it can hand {definer} the functions)")
            for role in (owner, definer):
                if _is_member(connection, app, role) and app != role:
                    connection.execute(
                        text(f"REVOKE {_quote(connection, role)} FROM {_quote(connection, app)}")
                    )
                    done.append(f"revoked {role} from {app}")
    finally:
        engine.dispose()
    return done
