from __future__ import annotations

import os

import pytest
from sqlalchemy import select, text

from core.audit import service as audit
from core.audit.models import AuditEvent
from core.context import Actor
from core.jobs.runtime import Runtime
from core.kms import LocalKMS
from core.vault import service as vault
from tests.fixtures import Factories, inspector


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
    with inspector(rt).begin() as conn:
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
            clean.acting(Actor.system("test")),
            "test.done",
            subject=audit.Ref("tenant", a.id, a.id),
        )
    events = _events(clean, a.id)
    assert events[-1].id == event.id and event.prev_hash == events[-2].hash


def test_master_key_rotation_re_signs_heads_so_the_old_key_can_go(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    old_key, new_key = clean.settings.master_key_bytes(), os.urandom(32)
    old_alone, new_alone = LocalKMS(old_key), LocalKMS(new_key)
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        # The head names its key: a process that holds only a new key says which one is missing.
        (problem,) = audit.verify(uow.session, tenant_id=a.id, kms=new_alone)
        assert old_alone.current_key_id.hex() in problem and "KASSA_PREVIOUS_MASTER_KEYS" in problem
    rotating = LocalKMS(new_key, previous=(old_key,))
    assert vault.rotation_plan(clean.db, kms=rotating).audit_heads == 1
    vault.rotate_master_key(clean.db, kms=rotating)
    assert vault.rotation_plan(clean.db, kms=rotating).total == 0
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        assert audit.verify(uow.session, tenant_id=a.id, kms=new_alone) == []


def test_master_key_rotation_does_not_re_sign_a_forged_head(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    _tamper(clean, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 5", t=a.id)
    _tamper(
        clean,
        "UPDATE audit_heads SET seq = 4, "
        "hash = (SELECT hash FROM audit_events WHERE tenant_id = :t AND seq = 4) WHERE tenant_id = :t",
        t=a.id,
    )
    rotating = LocalKMS(os.urandom(32), previous=(clean.settings.master_key_bytes(),))
    with pytest.raises(vault.RotationFailed, match="does not verify"):
        vault.rotate_master_key(clean.db, kms=rotating)
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        assert any(
            "fails its signature check" in p for p in audit.verify(uow.session, tenant_id=a.id, kms=rotating)
        )
