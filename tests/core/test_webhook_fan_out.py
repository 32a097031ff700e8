"""The webhooks subscriber costs nothing for a tenant (or mode, or type) nobody subscribed to: `emit` asks
`wants_event` (one query per transaction) and writes no outbox row. An endpoint created while another
transaction was emitting gets that transaction's events from its catch-up; nothing made after an endpoint
was created is lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from core import events
from core.clock import FrozenClock
from core.context import Actor
from core.events.types import EventType
from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.payments import serialize, sessions
from core.webhooks import service
from tests.factories import MadeTenant
from tests.fixtures import Factories, is_postgres
from tests.webhooks_helpers import create_endpoint, ctx, deliveries, drain, receiver

WEBHOOKS_JOB = "core.webhooks.jobs.on_event"


@pytest.fixture
def rt(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC).replace(microsecond=0)))
    return clean


def _fan_out_jobs(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.job == WEBHOOKS_JOB)).all()
        return [str(r.kwargs["event_id"]) for r in rows]


def _emit_completed(rt: Runtime, tenant: MadeTenant, cs_id: str, *, count: int = 1) -> list[str]:
    made = []
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        cs = sessions.get(uow.session, session_id=cs_id, lock=True)
        data = serialize.checkout_session(cs, base_url=rt.settings.base_url)
        for _ in range(count):
            made.append(
                events.emit(
                    uow.session,
                    ctx(rt, uow),
                    EventType.CHECKOUT_SESSION_COMPLETED,
                    subject=cs,
                    data=data,
                ).id
            )
    return made


def test_a_tenant_without_endpoints_gets_no_fan_out_job(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant)
    assert _fan_out_jobs(rt, tenant) == []


def test_only_the_mode_and_types_an_endpoint_subscribed_to_get_a_fan_out_job(
    rt: Runtime, make: Factories
) -> None:
    tenant, other = make.tenants(), make.tenants()
    create_endpoint(rt, tenant, "http://127.0.0.1:9/hooks", events=["checkout.session.completed"])
    create_endpoint(rt, tenant, "https://127.0.0.1:9/live", events=["*"], livemode=True)
    create_endpoint(rt, tenant, "http://127.0.0.1:9/off", events=["*"], enabled=False)
    cs = make.sessions(tenant=tenant)  # checkout.session.created: no test-mode endpoint wants it
    assert _fan_out_jobs(rt, tenant) == []
    wanted = _emit_completed(rt, tenant, cs.id)
    assert _fan_out_jobs(rt, tenant) == wanted
    make.sessions(tenant=other)
    assert _fan_out_jobs(rt, other) == []


def test_one_query_per_transaction_however_many_events(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    create_endpoint(rt, tenant, "http://127.0.0.1:9/hooks", events=["*"])
    cs = make.sessions(tenant=tenant)
    asked: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "FROM webhook_endpoints" in statement:
            asked.append(statement)

    sa_event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        made = _emit_completed(rt, tenant, cs.id, count=5)
    finally:
        sa_event.remove(rt.db.engine, "before_cursor_execute", count)
    # None on PostgreSQL: the session made above asked, and the process kept the answer under the
    # tenant's unchanged cache version (core/tenant_cache.py); SQLite has no such cache.
    assert len(asked) == (0 if is_postgres(rt.settings) else 1)
    assert sorted(_fan_out_jobs(rt, tenant))[-5:] == sorted(made)


def test_an_endpoint_created_in_the_transaction_hears_its_later_events(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    cs = make.sessions(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        session, context = uow.session, ctx(rt, uow)
        locked = sessions.get(session, session_id=cs.id, lock=True)
        data = serialize.checkout_session(locked, base_url=rt.settings.base_url)
        before = events.emit(
            session, context, EventType.CHECKOUT_SESSION_COMPLETED, subject=locked, data=data
        )
        service.create_endpoint(
            session,
            context,
            tenant_id=tenant.id,
            livemode=False,
            url="http://127.0.0.1:9/hooks",
            policy=service.Policy(allow_private=True),
        )
        after = events.emit(session, context, EventType.CHECKOUT_SESSION_COMPLETED, subject=locked, data=data)
    assert _fan_out_jobs(rt, tenant) == [after.id]
    assert before.id != after.id


@pytest.mark.postgres  # two writers at once: SQLite's one write lock would serialize them
def test_an_endpoint_created_while_a_transaction_emits_gets_its_event_from_the_catch_up(
    rt: Runtime, make: Factories
) -> None:
    """The race: the emitting transaction asked before the endpoint committed, so it wrote no fan-out job;
    the endpoint's catch-up (a delayed outbox job: time travel moves it) delivers the event."""
    assert isinstance(rt.clock, FrozenClock)
    tenant = make.tenants()
    cs = make.sessions(tenant=tenant)
    asked, created = threading.Event(), threading.Event()
    with receiver() as hook:
        emitted: list[str] = []

        def emitter() -> None:
            with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
                locked = sessions.get(uow.session, session_id=cs.id, lock=True)
                data = serialize.checkout_session(locked, base_url=rt.settings.base_url)
                emitted.append(
                    events.emit(
                        uow.session,
                        rt.context(uow, Actor.system("test")),
                        EventType.CHECKOUT_SESSION_COMPLETED,
                        subject=locked,
                        data=data,
                    ).id
                )
                asked.set()
                assert created.wait(10)  # the endpoint commits before this transaction does

        thread = threading.Thread(target=emitter)
        thread.start()
        assert asked.wait(10)
        made, _ = create_endpoint(rt, tenant, hook.url, events=["checkout.session.completed"])
        created.set()
        thread.join(10)
        assert _fan_out_jobs(rt, tenant) == []  # it asked before the endpoint existed
        drain(rt)
        assert hook.received == []
        rt.clock.advance(seconds=31)  # the first catch-up
        drain(rt)
        assert [r.headers["webhook-id"] for r in hook.received] == emitted
        rt.clock.advance(minutes=10)  # the second finds it delivered: nothing twice
        drain(rt)
        assert len(hook.received) == 1
    assert [d.endpoint_id for d in deliveries(rt, tenant)] == [made.id]


def test_an_endpoint_enabled_and_subscribed_to_more_types_gets_each_event_once(
    rt: Runtime, make: Factories
) -> None:
    assert isinstance(rt.clock, FrozenClock)
    tenant = make.tenants()
    with receiver() as hook:
        made, _ = create_endpoint(rt, tenant, hook.url, events=["payment.succeeded"], enabled=False)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.update_endpoint(
                uow.session,
                ctx(rt, uow),
                endpoint_id=made.id,
                changes={"enabled": True, "events": ["checkout.session.completed"]},
                policy=service.Policy(allow_private=True),
            )
        rt.clock.advance(seconds=1)
        cs = make.sessions(tenant=tenant)
        _emit_completed(rt, tenant, cs.id)
        rt.clock.advance(seconds=31)
        drain(rt)
        assert [r.headers["webhook-id"] for r in hook.received] == _fan_out_jobs(rt, tenant)
    assert len(deliveries(rt, tenant)) == 1
    assert timedelta(0) < service.CATCH_UP_AFTER[0] < service.CATCH_UP_AFTER[1]
