"""Alembic environment: runs on PostgreSQL (as the owner role) and SQLite (batch mode)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import tenants.models  # noqa: F401  (brings every model into Base.metadata)
from core.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported: run `kassa db upgrade` against a database.")
run_migrations_online()
