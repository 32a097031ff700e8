"""The header bell polls with htmx (the count changes without a reload; without JavaScript it is a plain
link, current at each page load), and its poll does not keep an idle session alive. The header links the
operations page for the members who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.portal.test_notifications_pages import bell, two_payouts_failed
from tests.portal.test_sign_in import sign_in
from tests.test_route_permissions import add_member, sign_in_as

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_the_bell_polls_for_its_count_without_a_reload(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    header = bell(client.get("/portal/payments").get_data(as_text=True))
    assert 'hx-get="/portal/notifications/bell"' in header and 'hx-trigger="every 30s"' in header
    assert 'href="/portal/notifications"' in header  # a plain link without JavaScript
    assert "bell-count" not in header
    two_payouts_failed(clean, tenant)
    polled = client.get("/portal/notifications/bell", headers={"HX-Request": "true"})
    fragment = polled.get_data(as_text=True)
    assert polled.status_code == 200 and "<html" not in fragment
    assert '>2<span class="visually-hidden"> unread</span>' in bell(fragment)
    assert 'hx-trigger="every 30s"' in fragment  # and it goes on polling
    # On the notifications page the bell keeps saying so (aria-current) after each poll.
    polled = client.get("/portal/notifications/bell?current=1", headers={"HX-Request": "true"})
    assert 'aria-current="page"' in polled.get_data(as_text=True)


def test_the_bells_poll_does_not_keep_an_idle_session_alive(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clean, "clock", clock)
    tenant = make.tenants()
    sign_in(client, tenant)
    for _ in range(3):  # a page left open: the bell asks every 30 s, nobody clicks
        clock.advance(minutes=5)
        assert client.get("/portal/notifications/bell", headers={"HX-Request": "true"}).status_code == 200
    clock.advance(minutes=1)  # 16 minutes without the member doing anything: the session is over
    answer = client.get("/portal/")
    assert answer.status_code == 302 and "/portal/login" in answer.location
    polled = client.get("/portal/notifications/bell", headers={"HX-Request": "true"})
    assert polled.status_code in (302, 401) or 'id="notification-bell"' not in polled.get_data(as_text=True)


def test_the_header_links_the_operations_page_for_operators_only(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    link = re.compile(r'<a href="/portal/operations"[^>]*>Operations</a>')
    assert not link.search(client.get("/portal/").get_data(as_text=True))  # an ordinary tenant: 404 there
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )
    assert link.search(client.get("/portal/").get_data(as_text=True))
    page = client.get("/portal/operations").get_data(as_text=True)
    assert re.search(r'<a href="/portal/operations" aria-current="page">Operations</a>', page)
    analyst = app.test_client()
    sign_in_as(analyst, *add_member(clean, tenant, "analyst"))  # type: ignore[arg-type]
    assert not link.search(analyst.get("/portal/").get_data(as_text=True))  # no operations:read
