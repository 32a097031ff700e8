"""The list queries in core (core/pagination.py and each resource's queries.py): mode-scoped, filtered,
tenant-scoped, cursor paginated newest first. The API and the portal list through these."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import InvalidInput
from core.jobs.runtime import Runtime
from core.links import queries as link_queries
from core.links import service as links
from core.locality import queries as rule_queries
from core.locality import service as locality
from core.pagination import Page
from core.payments import queries
from tests.factories import MadeTenant, _api_actor
from tests.fixtures import Factories


def ids(page: Page[Any]) -> list[str]:
    return [item.id for item in page.items]


def test_payments_are_listed_in_their_mode_only_and_filtered(clean: Runtime, make: Factories) -> None:
    a, b = make.tenants(), make.tenants()
    paid = make.payments(tenant=a)
    declined = make.payments(tenant=a, failed=True)
    live = make.payments(tenant=a, session=make.sessions(tenant=a, livemode=True), pending=True)
    make.payments(tenant=b, pending=True)

    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        db = uow.session
        test_page = queries.list_payments(db, livemode=False)
        assert ids(test_page) == [declined.id, paid.id] and not test_page.has_more
        assert ids(queries.list_payments(db, livemode=True)) == [live.id]
        assert ids(queries.list_payments(db, livemode=False, status="failed")) == [declined.id]
        assert ids(queries.list_payments(db, livemode=True, status="failed")) == []
        assert ids(queries.list_payments(db, livemode=False, checkout_session=paid.checkout_session_id)) == [
            paid.id
        ]
        # A live payment's session does not find it in test mode.
        assert ids(queries.list_payments(db, livemode=False, checkout_session=live.checkout_session_id)) == []
        second = timedelta(seconds=1)
        assert ids(queries.list_payments(db, livemode=False, created_gte=declined.created_at + second)) == []
        assert ids(queries.list_payments(db, livemode=False, created_lte=paid.created_at - second)) == []
        assert set(
            ids(
                queries.list_payments(
                    db,
                    livemode=False,
                    created_gte=paid.created_at - second,
                    created_lte=declined.created_at + second,
                )
            )
        ) == {paid.id, declined.id}


def test_the_cursor_pages_newest_first_both_ways(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    made = [make.sessions(tenant=tenant).id for _ in range(5)]
    make.sessions(tenant=tenant, livemode=True)  # never on a test page, nor counted in has_more
    newest_first = list(reversed(made))

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        db = uow.session
        first = queries.list_checkout_sessions(db, livemode=False, limit=2)
        assert ids(first) == newest_first[:2] and first.has_more and first.next_cursor == newest_first[1]
        second = queries.list_checkout_sessions(db, livemode=False, limit=2, starting_after=first.next_cursor)
        assert ids(second) == newest_first[2:4] and second.has_more
        last = queries.list_checkout_sessions(db, livemode=False, limit=2, starting_after=second.next_cursor)
        assert ids(last) == newest_first[4:] and not last.has_more and last.next_cursor is None
        back = queries.list_checkout_sessions(db, livemode=False, limit=2, ending_before=newest_first[4])
        assert ids(back) == newest_first[2:4] and back.has_more
        assert ids(
            queries.list_checkout_sessions(db, livemode=False, limit=2, ending_before=newest_first[1])
        ) == [newest_first[0]]
        assert ids(queries.list_checkout_sessions(db, livemode=False, status="expired")) == []
        assert len(queries.list_checkout_sessions(db, livemode=False, status="open", limit=100).items) == 5

        with pytest.raises(InvalidInput) as both:
            queries.list_checkout_sessions(db, livemode=False, starting_after=made[0], ending_before=made[1])
        assert both.value.param == "ending_before"
        for limit in (0, 101):
            with pytest.raises(InvalidInput):
                queries.list_checkout_sessions(db, livemode=False, limit=limit)


def test_refunds_and_events_take_their_mode_and_filters(clean: Runtime, make: Factories) -> None:
    tenant, other = make.tenants(), make.tenants()
    first, second = make.payments(tenant=tenant), make.payments(tenant=tenant)
    refund_one = make.refunds(tenant=tenant, payment=first, amount=100)
    refund_two = make.refunds(tenant=tenant, payment=second, amount=100)
    live_session = make.sessions(tenant=tenant, livemode=True)
    make.refunds(tenant=other)

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        db = uow.session
        assert ids(queries.list_refunds(db, livemode=False)) == [refund_two.id, refund_one.id]
        assert ids(queries.list_refunds(db, livemode=False, payment=first.id)) == [refund_one.id]
        assert ids(queries.list_refunds(db, livemode=True)) == []

        test_events = queries.list_events(db, livemode=False, limit=100).items
        assert test_events and all(not e.livemode and e.tenant_id == tenant.id for e in test_events)
        live_events = queries.list_events(db, livemode=True, limit=100).items
        assert {e.object_id for e in live_events} == {live_session.id}
        refunded = queries.list_events(db, livemode=False, type="refund.created", limit=100).items
        assert {e.object_id for e in refunded} == {refund_one.id, refund_two.id}
        about_first = queries.list_events(db, livemode=False, object_id=first.id, limit=100).items
        assert about_first and {e.object_id for e in about_first} == {first.id}

        assert [r.id for r in queries.refunds_of(db, payment_id=first.id)] == [refund_one.id]
        stream = queries.events_of(db, object_id=first.id)
        assert [e.sequence for e in stream] == sorted(e.sequence for e in stream) and len(stream) >= 2
        history = queries.status_history(db, payment_id=first.id)
        assert history and history[-1].status == "partially_refunded"

        live_event = live_events[0]
        assert queries.get_event(db, livemode=True, event_id=live_event.id) is live_event
        assert queries.get_event(db, livemode=False, event_id=live_event.id) is None


def _link(rt: Runtime, tenant: MadeTenant, *, livemode: bool, active: bool = True) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return links.create(
            uow.session,
            rt.context(uow, _api_actor(rt, tenant)),
            tenant_id=tenant.id,
            livemode=livemode,
            data={"amount": 500, "currency": "EUR", "active": active},
        ).id


def test_payment_links_and_locality_rules_are_listed_by_mode(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    on, off = _link(clean, tenant, livemode=False), _link(clean, tenant, livemode=False, active=False)
    live = _link(clean, tenant, livemode=True)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        for livemode, country in ((False, "DE"), (False, "FR"), (True, "DE")):
            locality.create(
                uow.session,
                clean.context(uow, _api_actor(clean, tenant)),
                tenant_id=tenant.id,
                livemode=livemode,
                data={"country": country},
            )

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        db = uow.session
        assert ids(link_queries.list_payment_links(db, livemode=False)) == [off, on]
        assert ids(link_queries.list_payment_links(db, livemode=False, active=True)) == [on]
        assert ids(link_queries.list_payment_links(db, livemode=False, active=False)) == [off]
        assert ids(link_queries.list_payment_links(db, livemode=True)) == [live]
        test_rules = rule_queries.list_locality_rules(db, livemode=False)
        assert [r.country for r in test_rules.items] == ["FR", "DE"]
        assert [r.country for r in rule_queries.list_locality_rules(db, livemode=True).items] == ["DE"]
        one = rule_queries.list_locality_rules(db, livemode=False, limit=1)
        assert one.has_more and [r.country for r in one.items] == ["FR"]
