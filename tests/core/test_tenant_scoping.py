"""The ORM half of tenant isolation (runs on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, union_all, update

from core.db import TenantContextRequired, TenantMismatch, tenant_tables
from core.ids import new_id
from core.jobs.runtime import Runtime
from tenants.models import ApiKey, KeyKind, KeyMode, Membership
from tests.fixtures import Factories


def test_tenant_tables_are_found_from_the_metadata() -> None:
    assert {"api_keys", "audit_events", "memberships"} <= set(tenant_tables())
    assert "tenants" not in tenant_tables() and "users" not in tenant_tables()


def test_a_query_on_a_tenant_table_without_a_tenant_raises(make: Factories, clean: Runtime) -> None:
    make.tenants()
    with clean.db.unit_of_work() as uow:
        with pytest.raises(TenantContextRequired, match="Membership"):
            uow.session.scalars(select(Membership)).all()
        with pytest.raises(TenantContextRequired):
            uow.session.execute(update(ApiKey).values(display="x"))


def test_queries_see_only_the_current_tenant(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        keys = uow.session.scalars(select(ApiKey)).all()
        assert {k.tenant_id for k in keys} == {a.id}
        # Even asking for the other tenant by name returns nothing.
        assert uow.session.scalars(select(ApiKey).where(ApiKey.tenant_id == b.id)).all() == []
        other_key_id = _any_key_id(clean, b.id)
        assert uow.session.get(ApiKey, (b.id, other_key_id)) is None


def test_a_select_from_a_union_of_tenant_tables_is_scoped_inside_too(make: Factories, clean: Runtime) -> None:
    """The ORM names only the outer statement's entities: a select over a UNION subquery of tenant tables
    must still see only the current tenant (and refuse without one)."""
    a, b = make.tenants(), make.tenants()
    keys = union_all(select(ApiKey.tenant_id), select(Membership.tenant_id)).subquery("both")
    statement = select(keys.c.tenant_id, func.count()).group_by(keys.c.tenant_id)
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        assert {tenant for tenant, _ in uow.session.execute(statement)} == {a.id}
        counted = uow.session.scalar(select(func.count()).select_from(keys))  # the union as select_from
        assert counted == sum(n for _, n in uow.session.execute(statement))
    with clean.db.unit_of_work(tenant_id=b.id) as uow:
        assert {tenant for tenant, _ in uow.session.execute(statement)} == {b.id}
    with clean.db.unit_of_work() as uow, pytest.raises(TenantContextRequired, match="api_keys, memberships"):
        uow.session.execute(statement)


def test_bulk_updates_touch_only_the_current_tenant(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        uow.session.execute(update(ApiKey).values(display="changed"))
    with clean.db.unit_of_work(tenant_id=b.id) as uow:
        assert "changed" not in {k.display for k in uow.session.scalars(select(ApiKey))}


def test_new_rows_take_the_current_tenant_and_cannot_be_written_into_another(
    make: Factories, clean: Runtime
) -> None:
    a, b = make.tenants(), make.tenants()
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        row = ApiKey(
            id=new_id("key"),
            kind=KeyKind.PUBLISHABLE,
            mode=KeyMode.TEST,
            key_hash="h" * 64,
            display="pk",
            created_at=clean.clock.now(),
        )
        uow.session.add(row)
        uow.session.flush()
        assert row.tenant_id == a.id
    with pytest.raises(TenantMismatch), clean.db.unit_of_work(tenant_id=a.id) as uow:
        uow.session.add(
            ApiKey(
                tenant_id=b.id,
                id=new_id("key"),
                kind=KeyKind.PUBLISHABLE,
                mode=KeyMode.TEST,
                key_hash="i" * 64,
                display="pk",
                created_at=clean.clock.now(),
            )
        )
        uow.session.flush()
    with pytest.raises(TenantContextRequired), clean.db.unit_of_work() as uow:
        uow.session.add(
            ApiKey(
                id=new_id("key"),
                kind=KeyKind.PUBLISHABLE,
                mode=KeyMode.TEST,
                key_hash="j" * 64,
                display="pk",
                created_at=clean.clock.now(),
            )
        )
        uow.session.flush()


def _any_key_id(rt: Runtime, tenant_id: str) -> str:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return uow.session.scalars(select(ApiKey.id)).first() or ""
