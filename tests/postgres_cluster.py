"""A PostgreSQL cluster of a test's own (initdb on a free port), to stop and start at will: the shared
cluster on 5432 serves every other test process and is never stopped. `Cluster.standby_of(primary)` makes a
streaming replica of one (`pg_basebackup -R`) in a second data directory on another port."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.fixtures import skip_or_fail


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]), None
    )
    if found is None:
        skip_or_fail(f"{name} not found: install the PostgreSQL server package (Debian: postgresql)")
    return str(found)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """`initdb` into a fresh directory, superuser `postgres` with trust authentication on 127.0.0.1 only
    (initdb's pg_hba.conf lets replication connections in the same way).

    `settings` are server settings given on the command line at each start (`{"wal_level": "replica"}`)."""

    def __init__(self, settings: dict[str, str] | None = None, *, initdb: bool = True) -> None:
        # Not under pytest's tmp_path: as root, the server runs as `postgres`, which must reach the directory.
        self.base = Path(tempfile.mkdtemp(prefix="kassa-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.settings = dict(settings or {})
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        if not initdb:
            return
        self._run(
            _binary("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _run(self, *command: str) -> None:
        # initdb and pg_ctl refuse to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    @classmethod
    def standby_of(cls, primary: Cluster, *, user: str, settings: dict[str, str] | None = None) -> Cluster:
        """A hot standby streaming from `primary` (running, `wal_level=replica`): `pg_basebackup -R` as the
        replication role `user` writes the data directory, `standby.signal` and `primary_conninfo`. Not
        started: call `start()`."""
        standby = cls({**primary.settings, "hot_standby": "on", **(settings or {})}, initdb=False)
        standby._run(
            _binary("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            user,
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
            "--no-sync",
        )
        return standby

    def sql(
        self, statement: str, *, database: str = "postgres", **params: object
    ) -> list[tuple[object, ...]]:
        """Run one statement as the superuser (autocommit) and return its rows (none for a command)."""
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def wait_for_replay(self, primary: Cluster, *, database: str = "postgres", timeout: float = 30) -> None:
        """Until this standby has replayed everything `primary` had written when called."""
        ((target,),) = primary.sql("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while True:
            ((done,),) = self.sql(
                "SELECT pg_last_wal_replay_lsn() >= CAST(:target AS pg_lsn)", database=database, target=target
            )
            if done:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby on {self.port} did not replay up to {target} in {timeout} s")
            time.sleep(0.05)

    def log_text(self) -> str:
        path = self.base / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
