"""`kassa backup`: the restore drill (docs/operations.md, "Backups and the restore drill")."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import with_appcontext

from cli.common import fail, runtime


@click.group("backup", help="Backups: restore a dump and check it (the restore drill).")
def backup_group() -> None:
    pass


@backup_group.command(
    "verify",
    help="Restore a `pg_dump -Fc` DUMP into a fresh database and check it: migrations at head, every "
    "tenant's audit chain, the ledger balanced per tenant and currency, rows per table. Prints the "
    "figures and the restore time; exit 1 with what failed. The scratch database is dropped afterwards.",
)
@click.argument("dump", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--admin-url",
    default=None,
    help="A superuser's URL on the server to restore into (default: $DATABASE_ADMIN_URL). It creates and "
    "drops the scratch database; the dump's roles must exist there.",
)
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 32), help="pg_restore --jobs.")
@click.option("--keep", is_flag=True, help="Keep the restored database (its name is printed) to inspect it.")
@with_appcontext
def backup_verify(dump: Path, admin_url: str | None, jobs: int, keep: bool) -> None:
    from core.backup import RestoreFailed, check, restored
    from core.config import with_driver

    url = with_driver(admin_url or os.environ.get("DATABASE_ADMIN_URL", ""))
    if not url.startswith("postgresql"):
        fail("Give a superuser's PostgreSQL URL with --admin-url or DATABASE_ADMIN_URL.")
    rt = runtime()

    def progress(tenants: Iterator[str]) -> Iterator[str]:
        ids = list(tenants)
        with click.progressbar(ids, label="Checking tenants", file=sys.stderr) as bar:
            yield from bar

    try:
        with restored(dump, admin_url=url, jobs=jobs, keep=keep) as (restored_url, restore_seconds):
            click.echo(f"restored {dump} into {restored_url.rsplit('/', 1)[-1]} in {restore_seconds:.1f} s")
            report = check(restored_url, kms=rt.kms, on_tenant=progress)
    except RestoreFailed as exc:
        fail(str(exc))
        return
    report.restore_seconds = restore_seconds
    click.echo(f"migrations: {report.revision or 'none'} (head {report.head})")
    click.echo(f"tenants: {report.tenants}")
    click.echo("rows per table:")
    width = max((len(t) for t in report.row_counts), default=0)
    for table, count in report.row_counts.items():
        click.echo(f"  {table:<{width}}  {count:>10}")
    click.echo(
        f"restore {report.restore_seconds:.1f} s, checks {report.check_seconds:.1f} s, "
        f"total {report.restore_seconds + report.check_seconds:.1f} s"
    )
    if keep:
        click.echo(f"kept database {report.database}")
    if report.problems:
        for problem in report.problems:
            click.echo(f"FAILED: {problem}")
        fail(f"the backup did not pass the restore drill: {len(report.problems)} problem(s), listed above.")
    click.echo("backup verified: it restores into a working Kassa")
