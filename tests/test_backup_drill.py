"""The restore drill, `kassa backup verify`, on real dumps of a seeded database: a clean backup passes, one
with an edited audit row or an unbalanced ledger fails and says where."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.config import Settings
from core.db import Base
from core.jobs.runtime import Runtime
from tests.factories import MadeTenant, seed_every_table
from tests.fixtures import Factories, admin_url, inspector

pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded(make: Factories, clean: Runtime) -> tuple[MadeTenant, MadeTenant]:
    a, b = make.tenants(), make.tenants()
    seed_every_table(clean, a)
    seed_every_table(clean, b)
    return a, b


def _admin(settings: Settings) -> str:
    url = admin_url(settings)
    if url is None:
        pytest.fail("the restore drill needs a superuser: set DATABASE_ADMIN_URL (bash .ci/run does)")
    return url


def _dump(settings: Settings, path: Path) -> Path:
    return _dump_of(_admin(settings), path)


def _dump_of(database_url: str, path: Path) -> Path:
    url = make_url(database_url)
    env = {**os.environ, **({"PGPASSWORD": str(url.password)} if url.password else {})}
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    subprocess.run(["pg_dump", "-Fc", "--file", str(path), conninfo], check=True, env=env)
    return path


def _verify(app: Flask, settings: Settings, dump: Path):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["backup", "verify", str(dump), "--admin-url", _admin(settings)])


def _databases(rt: Runtime) -> set[str]:
    with inspector(rt).connect() as conn:
        return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())


def test_a_backup_of_a_seeded_database_passes_the_drill(
    app: Flask, seeded: tuple[MadeTenant, MadeTenant], clean: Runtime, tmp_path: Path
) -> None:
    before = _databases(clean)
    result = _verify(app, clean.settings, _dump(clean.settings, tmp_path / "kassa.dump"))

    print(result.stdout)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "backup verified" in result.stdout
    assert "tenants: 2" in result.stdout
    assert "Checking tenants" in result.stderr  # the progress bar
    counts = dict(re.findall(r"^  (\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    assert set(counts) == {t.name for t in Base.metadata.sorted_tables}
    assert int(counts["audit_events"]) > 0 and int(counts["ledger_entries"]) > 0
    assert re.search(r"restore \d+\.\d s, checks \d+\.\d s, total \d+\.\d s", result.stdout)
    assert _databases(clean) == before  # the scratch database is dropped


def test_a_backup_with_an_edited_audit_row_fails_the_drill(
    app: Flask, seeded: tuple[MadeTenant, MadeTenant], clean: Runtime, tmp_path: Path
) -> None:
    a, b = seeded
    with inspector(clean).begin() as conn:
        edited = conn.execute(
            text(
                "UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = :t AND seq = 2 "
                "RETURNING id"
            ),
            {"t": a.id},
        ).scalar_one()

    result = _verify(app, clean.settings, _dump(clean.settings, tmp_path / "kassa.dump"))

    assert result.exit_code == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED:")]
    assert failed == [
        f"FAILED: tenant {a.id}: audit chain: event {edited} (seq 2): content does not match its hash "
        "(edited)"
    ]
    assert "did not pass the restore drill: 1 problem(s)" in result.stderr
    assert b.id not in result.stdout.split("rows per table:")[0]


def test_a_backup_with_an_unbalanced_ledger_fails_the_drill(
    app: Flask, seeded: tuple[MadeTenant, MadeTenant], clean: Runtime, tmp_path: Path
) -> None:
    a, _ = seeded
    with inspector(clean).begin() as conn:
        # Superuser only: the application may not update ledger entries (append-only).
        journal = conn.execute(
            text(
                "UPDATE ledger_entries SET amount = amount + 1 WHERE (tenant_id, id) = "
                "(SELECT tenant_id, id FROM ledger_entries WHERE tenant_id = :t ORDER BY id LIMIT 1) "
                "RETURNING journal_id"
            ),
            {"t": a.id},
        ).scalar_one()

    result = _verify(app, clean.settings, _dump(clean.settings, tmp_path / "kassa.dump"))

    assert result.exit_code == 1, result.stdout
    assert re.search(rf"FAILED: tenant {a.id}: ledger: [A-Z]{{3}} entries sum to 1, not 0", result.stdout)
    assert f"FAILED: tenant {a.id}: ledger: journal {journal}:" in result.stdout


def test_a_file_that_is_not_a_dump_is_refused(app: Flask, settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump")
    result = _verify(app, settings, junk)
    assert result.exit_code == 1
    assert "is not a pg_dump custom-format archive" in result.stderr


def test_a_dump_of_a_database_that_was_never_migrated_fails_the_drill(
    app: Flask, settings: Settings, clean: Runtime, tmp_path: Path
) -> None:
    name = f"kassa_empty_{os.getpid()}"
    server = make_url(_admin(settings))
    with inspector(clean).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        dump = _dump_of(server.set(database=name).render_as_string(hide_password=False), tmp_path / "e.dump")
    finally:
        with inspector(clean).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))

    result = _verify(app, settings, dump)

    assert result.exit_code == 1
    assert "FAILED: table payments is missing" in result.stdout
    assert "FAILED: no alembic_version: the dump has no migrated schema" in result.stdout
