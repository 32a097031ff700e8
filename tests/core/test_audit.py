from __future__ import annotations

from sqlalchemy import select, text

from core.audit import service as audit
from core.audit.models import AuditEvent
from core.audit.service import Actor
from core.jobs.runtime import Runtime
from tests.fixtures import Factories


def _events(rt: Runtime, tenant_id: str) -> list[AuditEvent]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_every_setup_step_is_audited_in_one_chain_per_tenant(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    actions = [e.action for e in _events(clean, a.id)]
    assert actions == [
        "tenant.created",
        "api_key.created",
        "api_key.created",
        "user.created",
        "membership.created",
    ]
    assert [e.seq for e in _events(clean, b.id)] == [1, 2, 3, 4, 5]
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        assert audit.verify(uow.session, tenant_id=a.id, kms=clean.kms) == []


def test_details_are_stored_encrypted(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    first = _events(clean, a.id)[0]
    assert first.details_encrypted is not None and a.tenant.slug.encode() not in first.details_encrypted
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        details = audit.read_details(uow.session, first, kms=clean.kms)
    assert details == {
        "slug": a.tenant.slug,
        "country": "DE",
        "currency": "EUR",
    }


def _tamper(rt: Runtime, sql: str, **params: object) -> None:
    # As the owner role: the application role may not UPDATE or DELETE audit rows at all (tested on PG).
    with rt.db.owner_engine.begin() as conn:
        conn.execute(text(sql), params)


def _verify(rt: Runtime, tenant_id: str) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return audit.verify(uow.session, tenant_id=tenant_id, kms=rt.kms)


def test_an_edited_event_breaks_the_chain(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    _tamper(
        clean, "UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = :t AND seq = 2", t=a.id
    )
    problems = _verify(clean, a.id)
    assert any("seq 2" in p and "edited" in p for p in problems)


def test_a_deleted_event_breaks_the_chain(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    _tamper(clean, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 3", t=a.id)
    assert any("missing" in p for p in _verify(clean, a.id))


def test_reordered_events_break_the_chain(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    _tamper(clean, "UPDATE audit_events SET seq = 100 WHERE tenant_id = :t AND seq = 2", t=a.id)
    _tamper(clean, "UPDATE audit_events SET seq = 2 WHERE tenant_id = :t AND seq = 3", t=a.id)
    _tamper(clean, "UPDATE audit_events SET seq = 3 WHERE tenant_id = :t AND seq = 100", t=a.id)
    assert _verify(clean, a.id) != []


def test_recording_appends_to_the_end_of_the_chain(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        event = audit.record(
            uow.session,
            tenant_id=a.id,
            actor=Actor.system("test"),
            action="test.done",
            subject_type="tenant",
            subject_id=a.id,
            clock=clean.clock,
            kms=clean.kms,
        )
    events = _events(clean, a.id)
    assert events[-1].id == event.id and event.prev_hash == events[-2].hash
