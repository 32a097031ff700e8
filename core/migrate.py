"""`kassa db upgrade`: Alembic migrations as the owner role, then the application role and its grants."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from core.config import APP_ROLE, Settings
from core.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Tables the application role may read and append to but never change: the evidence.
APPEND_ONLY = ("audit_events", "payment_status_history", "events", "ledger_journals", "ledger_entries")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(settings.database_url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if connection.dialect.name == "postgresql":
                grant_app_role(connection, settings)
    finally:
        engine.dispose()


def grant_app_role(connection: Connection, settings: Settings) -> None:
    """Create the application role (LOGIN, no superuser, no BYPASSRLS, owns nothing) and grant it DML."""
    app_url = make_url(settings.app_database_url)
    role = app_url.username or APP_ROLE
    owner = connection.execute(text("SELECT current_user")).scalar_one()
    if role == owner:
        raise RuntimeError(
            "DATABASE_APP_URL uses the owner role: the application must connect as a role that row-level "
            "security applies to. Leave DATABASE_APP_URL unset (role kassa_app) or name another role."
        )
    quoted = connection.dialect.identifier_preparer.quote(role)
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        connection.execute(
            text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
        )
    else:
        connection.execute(text(f"ALTER ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"))
    if app_url.password:
        # Identifiers cannot be bound; the password is passed as a literal via format() server-side.
        password_sql = connection.execute(
            text("SELECT format('ALTER ROLE %I PASSWORD %L', :r, :p)"),
            {"r": role, "p": app_url.password},
        ).scalar_one()
        connection.execute(text(password_sql))
    database = connection.execute(text("SELECT current_database()")).scalar_one()
    connection.execute(
        text(
            f"GRANT CONNECT ON DATABASE {connection.dialect.identifier_preparer.quote(database)} TO {quoted}"
        )
    )
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    )
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    connection.execute(text(f"REVOKE ALL ON alembic_version FROM {quoted}"))
    for table in APPEND_ONLY:
        connection.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}"))
    connection.execute(text(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {quoted}"))
