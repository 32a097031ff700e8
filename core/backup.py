"""The restore drill: a `pg_dump -Fc` backup is only a backup once it has been restored and checked.

`restore` loads a dump into a fresh, uniquely named database on a PostgreSQL server; `check` then asks
the restored copy what a recovery needs to be true: the schema is at the migrations' head, every
tenant's audit chain verifies against its signed head, the ledger balances per tenant and currency, and
every table is there with its rows counted. `kassa backup verify` runs both and drops the copy.

Restoring and checking need a superuser's URL (`DATABASE_ADMIN_URL`): the dump names the owner, definer
and application roles as owners and grantees, and the check reads every tenant's rows, which row-level
security hides from everyone else. The copy is a scratch database and is dropped after the check.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

from core.audit import service as audit
from core.db import Base, Database, make_engine
from core.kms import KMS
from core.ledger import service as ledger
from core.migrate import alembic_config

#: Prefix of the scratch databases the drill restores into (a crashed drill's leftovers are easy to see).
SCRATCH_PREFIX = "kassa_drill_"


class RestoreFailed(Exception):
    """pg_restore could not load the dump; the message carries what it said."""


@dataclass
class DrillReport:
    """What one drill found; `problems` empty means the backup restores into a working Kassa."""

    database: str
    restore_seconds: float = 0.0
    check_seconds: float = 0.0
    revision: str | None = None
    head: str = ""
    tenants: int = 0
    row_counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it (never on
    the command line, where `ps` shows it)."""
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return plain, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RestoreFailed(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _check_archive(dump: Path) -> None:
    """Refuse, before creating anything, a file pg_restore cannot read as a custom-format archive."""
    listing = subprocess.run(  # noqa: S603  (fixed tool, arguments built here)
        [_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise RestoreFailed(f"{dump} is not a pg_dump custom-format archive: {listing.stderr.strip()}")


@contextmanager
def restored(dump: Path, *, admin_url: str, jobs: int = 1, keep: bool = False) -> Iterator[tuple[str, float]]:
    """Restore `dump` into a new database on `admin_url`'s server; yield its URL (as the admin) and the
    seconds the restore took; drop the database afterwards unless `keep`."""
    _check_archive(dump)
    admin = make_url(admin_url)
    name = f"{SCRATCH_PREFIX}{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    server = make_engine(admin.set(database="postgres").render_as_string(hide_password=False))
    target = admin.set(database=name)
    try:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # template0: nothing a site added to template1 gets in the way of the dump's own objects.
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        try:
            started = time.monotonic()
            conninfo, env = _libpq(target)
            command = [_tool("pg_restore"), "--exit-on-error", "--no-password", f"--jobs={jobs}"]
            result = subprocess.run(  # noqa: S603  (fixed tool, arguments built here)
                [*command, "--dbname", conninfo, str(dump)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if result.returncode != 0:
                raise RestoreFailed(f"pg_restore failed: {result.stderr.strip()[-2000:]}")
            yield target.render_as_string(hide_password=False), time.monotonic() - started
        finally:
            if not keep:
                with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def check(
    url: str,
    *,
    kms: KMS,
    on_tenant: Callable[[Iterator[str]], Iterator[str]] = lambda tenants: tenants,
) -> DrillReport:
    """Check the restored database at `url` (a superuser's, so every tenant's rows are visible).

    `on_tenant` wraps the walk over tenants (the CLI's progress bar)."""
    started = time.monotonic()
    report = DrillReport(database=make_url(url).database or "")
    db = Database(url)
    try:
        _check_schema(db, report)
        if "tenants" not in report.row_counts:
            return report  # no schema to walk: `_check_schema` has said what is missing
        tenant_ids = db.tenant_ids()
        report.tenants = len(tenant_ids)
        for tenant_id in on_tenant(iter(tenant_ids)):
            with db.unit_of_work(tenant_id=tenant_id) as uow:
                report.problems += [
                    f"tenant {tenant_id}: audit chain: {problem}"
                    for problem in audit.verify(uow.session, tenant_id=tenant_id, kms=kms)
                ]
                report.problems += [
                    f"tenant {tenant_id}: ledger: {problem}"
                    for problem in ledger.imbalances(uow.session, tenant_id=tenant_id)
                ]
    finally:
        db.dispose()
        report.check_seconds = time.monotonic() - started
    return report


def _check_schema(db: Database, report: DrillReport) -> None:
    heads = ScriptDirectory.from_config(alembic_config(db.app_url)).get_heads()
    report.head = ", ".join(heads)
    with db.engine.connect() as conn:
        present = set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
        if "alembic_version" in present:
            report.revision = conn.execute(
                text("SELECT string_agg(version_num, ', ') FROM alembic_version")
            ).scalar()
        for table in sorted(Base.metadata.sorted_tables, key=lambda t: t.name):
            if table.name not in present:
                report.problems.append(f"table {table.name} is missing")
                continue
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            report.row_counts[table.name] = int(count)
    if report.revision is None:
        report.problems.append("no alembic_version: the dump has no migrated schema")
    elif set(report.revision.split(", ")) != set(heads):
        report.problems.append(
            f"migrations at {report.revision}, not at head {report.head}: run `kassa db upgrade` after "
            "restoring, or restore with the release that made the backup"
        )
