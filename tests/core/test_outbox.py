"""The transactional outbox: a job is written with the change, and reaches RQ even across a Redis outage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import FrozenClock
from core.db import TenantMismatch
from core.jobs import maintenance, outbox, runtime
from core.jobs.outbox import OutboxMessage, SystemOutboxMessage
from core.jobs.queues import DEFAULT, get_queue
from core.jobs.registry import job
from core.jobs.runtime import Runtime
from core.jobs.worker import ScheduledRetries
from tests.fixtures import Factories, inspector, skip_or_fail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server of the test's own, which the test can stop and start again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        skip_or_fail("needs the redis-server binary (apt-get install redis-server)")
    server = RedisServer()
    yield server
    server.stop()


def _write_job(rt: Runtime, tenant_id: str) -> str:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        message = outbox.add(
            uow,
            maintenance.verify_audit_chain,
            clock=rt.clock,
            tenant_id=tenant_id,
            kwargs={"tenant_id": tenant_id},
        )
        return message.id


def _pending(rt: Runtime) -> list[OutboxMessage | SystemOutboxMessage]:
    """Every tenant's undelivered rows and the system ones (read as the tests' inspector)."""
    with Session(inspector(rt)) as session:
        return [
            *session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))),
            *session.scalars(select(SystemOutboxMessage).where(SystemOutboxMessage.delivered_at.is_(None))),
        ]


@pytest.mark.redis
def test_a_job_written_while_redis_is_down_is_delivered_when_it_is_back(
    make: Factories, clean: Runtime, redis_server: RedisServer
) -> None:
    tenant = make.tenants()
    connection = redis_server.client()  # the server is not running yet: Redis is down
    message_id = _write_job(clean, tenant.id)

    assert outbox.relay(clean.db, connection, clock=clean.clock) == 0
    [waiting] = _pending(clean)
    assert (
        waiting.id == message_id
        and waiting.attempts == 1
        and "Redis unavailable" in (waiting.last_error or "")
    )

    redis_server.start()
    assert outbox.relay(clean.db, connection, clock=clean.clock) == 1
    assert _pending(clean) == []
    queue = get_queue(DEFAULT, connection)
    assert queue.job_ids == [message_id]
    job = Job.fetch(message_id, connection=connection, serializer=JSONSerializer)
    assert job.func_name == "core.jobs.maintenance.verify_audit_chain"
    assert job.kwargs == {"tenant_id": tenant.id}

    # And a worker runs it to completion against the real database.
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    job.refresh()
    assert job.is_finished and job.return_value() is True


def test_a_rolled_back_change_leaves_no_job(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    with pytest.raises(RuntimeError), clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        outbox.add(uow, maintenance.prune_outbox, clock=clean.clock)
        raise RuntimeError("the change failed")
    assert _pending(clean) == []


def test_the_runtime_hands_a_committed_job_to_rq_at_once(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        message = clean.enqueue(
            uow, maintenance.verify_audit_chain, tenant_id=tenant.id, kwargs={"tenant_id": tenant.id}
        )
    assert _pending(clean) == []
    assert clean.queue(DEFAULT).job_ids == [message.id]


def test_unregistered_functions_cannot_be_queued(clean: Runtime) -> None:
    with pytest.raises(LookupError, match="not a registered job"), clean.db.unit_of_work() as uow:
        outbox.add(uow, print, clock=clean.clock)


#: Redis key counting the runs of `fails_once`.
FAILS_ONCE_RUNS = "kassa-test:fails-once"


@job(queue=DEFAULT, retry_intervals=(1,))
def fails_once() -> int:
    """A job that raises on its first run (a transient fault) and succeeds on its retry."""
    runs = int(runtime.current().redis.incr(FAILS_ONCE_RUNS))
    if runs == 1:
        raise ConnectionError("the first run fails")
    return runs


def test_a_job_that_raises_is_retried_after_its_back_off(clean: Runtime) -> None:
    clean.redis.delete(FAILS_ONCE_RUNS)
    with clean.db.unit_of_work() as uow:
        clean.enqueue(uow, fails_once, tenant_id=None)
    worker = SimpleWorker([clean.queue(DEFAULT)], connection=clean.redis, serializer=JSONSerializer)
    retries = ScheduledRetries(clean, [DEFAULT])  # what the demo's worker runs before each burst
    try:
        worker.work(burst=True)
        assert clean.redis.get(FAILS_ONCE_RUNS) == b"1"
        assert clean.queue(DEFAULT).scheduled_job_registry.get_job_ids() != []  # waiting out its back-off
        time.sleep(1.2)
        retries.run_once()
        worker.work(burst=True)
    finally:
        retries.close()
    assert clean.redis.get(FAILS_ONCE_RUNS) == b"2"
    assert clean.queue(DEFAULT).scheduled_job_registry.get_job_ids() == []


def test_one_relay_pass_moves_every_tenants_jobs_and_the_system_ones(make: Factories, clean: Runtime) -> None:
    # The cron relay runs as the application role with no tenant in context; row-level security hides
    # each tenant's rows from it, so it finds them through kassa_outbox_due and marks them per tenant.
    a, b = make.tenants(), make.tenants()
    written = {_write_job(clean, a.id), _write_job(clean, b.id)}
    with clean.db.unit_of_work() as uow:
        written.add(outbox.add(uow, maintenance.prune_outbox, clock=clean.clock).id)
    assert {m.id for m in _pending(clean)} == written
    assert outbox.relay(clean.db, clean.redis, clock=clean.clock) == 3
    assert _pending(clean) == []
    assert set(clean.queue(DEFAULT).job_ids) == written
    assert outbox.relay(clean.db, clean.redis, clock=clean.clock) == 0


def test_a_job_of_one_tenant_cannot_be_written_in_another_tenants_transaction(
    make: Factories, clean: Runtime
) -> None:
    a, b = make.tenants(), make.tenants()
    with pytest.raises(TenantMismatch), clean.db.unit_of_work(tenant_id=a.id) as uow:
        outbox.add(uow, maintenance.verify_audit_chain, clock=clean.clock, tenant_id=b.id)
    assert _pending(clean) == []


def test_pruning_deletes_every_tenants_old_delivered_rows_only(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    for tenant in (a, b):
        _write_job(clean, tenant.id)
    with clean.db.unit_of_work() as uow:
        outbox.add(uow, maintenance.prune_outbox, clock=clean.clock)
    assert outbox.relay(clean.db, clean.redis, clock=clean.clock) == 3
    waiting = _write_job(clean, a.id)  # not delivered: never pruned
    later = FrozenClock(datetime.now(UTC) + timedelta(days=8))
    assert outbox.prune(clean.db, clock=later) == 3
    assert [m.id for m in _pending(clean)] == [waiting]
    with Session(inspector(clean)) as session:
        left = session.scalars(select(OutboxMessage.id)).all()
        assert list(left) == [waiting] and session.scalars(select(SystemOutboxMessage.id)).all() == []
