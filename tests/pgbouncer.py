"""A real pgbouncer in transaction pooling mode, started by the tests on a free port in front of the suite's
PostgreSQL database (Debian's `pgbouncer`, installed by .ci/run), as the application role.

`default_pool_size` is small on purpose: many client connections share a few server connections, so every
transaction may run on a server connection another tenant's transaction just used (what a leaked
`SET app.tenant_id` would turn into a cross-tenant read).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

from core.config import Settings
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from tenants import passwords
from tests.fixtures import CheckedClient, is_postgres, skip_or_fail
from tests.smtp_server import free_port
from wsgi import create_app

#: Server connections pgbouncer keeps per (database, user): fewer than the clients the tests run at once.
SERVER_POOL_SIZE = 4


@dataclass(frozen=True)
class Pgbouncer:
    port: int
    #: DATABASE_APP_URL through pgbouncer (the application role, trust auth to 127.0.0.1:5432).
    app_url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def _wait_for(port: int, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = output.read_text(errors="replace")
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {said}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"pgbouncer did not listen on {port}: {output.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def pgbouncer(settings: Settings) -> Iterator[Pgbouncer]:
    if not is_postgres(settings):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL (bash .ci/run does)")
    binary = _binary()
    if binary is None:
        skip_or_fail("needs pgbouncer: apt-get install pgbouncer (bash .ci/run does)")
    assert binary is not None
    app = make_url(settings.app_database_url)
    server = f"host={app.host or '127.0.0.1'} port={app.port or 5432} dbname={app.database}"
    # Not under pytest's temporary root: that is private to this user, and pgbouncer may run as another.
    directory = Path(tempfile.mkdtemp(prefix="kassa-pgbouncer-"))
    port = free_port()
    log = directory / "pgbouncer.log"
    output = directory / "stderr.log"
    (directory / "userlist.txt").write_text(f'"{app.username}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"{app.database} = {server}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {SERVER_POOL_SIZE}",
                "max_client_conn = 500",
                "ignore_startup_parameters = extra_float_digits,options",
                f"logfile = {log}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = [binary, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # pgbouncer refuses to run as root: drop to the PostgreSQL system user (it reads the files here).
        user = "postgres" if _user_exists("postgres") else "nobody"
        owner = pwd.getpwnam(user)
        for path in (directory, *directory.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command[1:1] = ["-u", user]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, output)
        url = app.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        yield Pgbouncer(port=port, app_url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pooled_runtime(pgbouncer: Pgbouncer, migrated: Settings, clean: Runtime) -> Iterator[Runtime]:
    """A runtime whose application connections go through pgbouncer (`DATABASE_POOLER=transaction`),
    on the same database and Redis as the suite's `clean` runtime (which is back in place afterwards)."""
    settings = migrated.with_changes(database_app_url=pgbouncer.app_url, database_pooler="transaction")
    rt = runtime_module.build(settings)
    try:
        yield rt
    finally:
        rt.db.dispose()
        runtime_module.install(clean)
        passwords.configure(clean.settings)


@pytest.fixture
def pooled_app(pooled_runtime: Runtime, translations: Path) -> Flask:
    """The whole app (every surface) on `pooled_runtime`: each request's transactions go through pgbouncer."""
    app = create_app(pooled_runtime.settings, runtime=pooled_runtime)
    app.test_client_class = CheckedClient
    return app


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
