"""`kassa status`: the operator's view of background work, outbox and replica lag and the recent errors
(core/jobs/status.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from cli.common import runtime

if TYPE_CHECKING:
    from core.jobs.status import ReplicaStatus


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(value, "strftime") else "never"


def _replica(replica: ReplicaStatus | None) -> str:
    if replica is None:
        return "none (reports read the main database)"
    if replica.error is not None:
        return f"{replica.error} (STALE)"
    if not replica.standby:
        return "the analytics database is not a standby"
    lag = "unknown" if replica.lag_seconds is None else f"{replica.lag_seconds:.1f} s"
    streaming = "streaming" if replica.receiving else "NOT STREAMING"
    return f"{streaming}, lag {lag}, last replayed commit {_when(replica.replayed_at)}" + (
        " (STALE)" if replica.stale else ""
    )


@click.command(
    "status",
    help="Queue depths, failed jobs, worker liveness, outbox and replica lag, recent errors "
    "(docs/operations.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when no worker is alive, the outbox backlog is stale or a configured replica is behind.",
)
@with_appcontext
def status_command(as_json: bool, check: bool) -> None:
    from core.jobs.status import snapshot

    rt = runtime()
    shot = snapshot(rt.db, rt.redis, clock=rt.clock, analytics=rt.analytics)
    if as_json:
        click.echo(json.dumps(shot.as_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"Kassa status at {_when(shot.taken_at)}: {'healthy' if shot.healthy else 'NOT HEALTHY'}")
        click.echo("")
        click.echo(f"{'queue':<10} {'queued':>7} {'started':>8} {'scheduled':>10} {'failed':>7}")
        for q in shot.queues:
            click.echo(f"{q.name:<10} {q.queued:>7} {q.started:>8} {q.scheduled:>10} {q.failed:>7}")
        click.echo("")
        click.echo(f"workers: {sum(w.alive for w in shot.workers)} alive of {len(shot.workers)}")
        for w in shot.workers:
            life = "alive" if w.alive else "NOT ALIVE"
            click.echo(
                f"  {w.name} [{life}] {w.state} on {', '.join(w.queues)}, "
                f"last heartbeat {_when(w.last_heartbeat)}"
            )
        box = shot.outbox
        click.echo("")
        click.echo(
            f"outbox: {box.due} due, {box.delayed} delayed; oldest due since {_when(box.oldest_due_at)}"
            f", lag {box.lag_seconds} s{' (STALE: is kassa cron running, is Redis up?)' if box.stale else ''}"
        )
        click.echo(f"replica: {_replica(shot.replica)}")
        if shot.failed_jobs:
            click.echo("")
            click.echo("newest failed jobs:")
            for job in shot.failed_jobs:
                click.echo(f"  {_when(job.ended_at)} {job.queue}/{job.job} {job.id}: {job.error}")
        if shot.recent_errors:
            click.echo("")
            click.echo("recent errors:")
            for e in shot.recent_errors:
                trace = f" trace {e.trace_id}" if e.trace_id else ""
                where = f"{e.status} {e.method} {e.route} request {e.request_id}{trace}"
                click.echo(f"  {_when(e.at)} {where}: {e.error}")
    if check and not shot.healthy:
        raise SystemExit(1)
