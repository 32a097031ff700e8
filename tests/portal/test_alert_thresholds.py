"""A tenant's own alert thresholds: set on the notification preferences page by a member with
`settings:write` (without JavaScript and with htmx), checked by core, audited, used by the alert cron job;
an empty field falls back to the KASSA_ALERT_* default."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from core.notifications import alerts
from core.notifications.jobs import detect_alerts
from core.notifications.kinds import Kind
from core.notifications.models import Notification
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, sign_in
from tests.test_route_permissions import add_member, sign_in_as

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
PAGE = "/portal/notifications/preferences"
ACTION = "/portal/notifications/alert-thresholds"


def _thresholds(rt: Runtime, tenant: MadeTenant) -> dict[str, float | int]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return alerts.tenant_values(uow.session)


def _kinds(rt: Runtime, tenant: MadeTenant) -> list[Kind]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return [n.kind for n in uow.session.scalars(select(Notification))]


def _value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def test_an_owner_sets_the_tenants_thresholds_and_the_alert_job_uses_them(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    sign_in(client, tenant)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Alert thresholds" in page and 'placeholder="0.6"' in page and "Default: 10" in page
    answer = client.post(
        ACTION,
        data={"csrf_token": csrf_token(page), "approval_rate_min": "0,5", "approval_min_attempts": "3"},
    )
    assert answer.status_code == 303 and answer.location.endswith(f"{PAGE}?thresholds_saved=1")
    page = client.get(answer.location).get_data(as_text=True)
    assert "The alert thresholds are saved." in page
    assert (_value(page, "approval_rate_min"), _value(page, "approval_min_attempts")) == ("0.5", "3")
    assert _value(page, "spike_factor") == ""  # not set: the default applies
    assert _thresholds(clean, tenant) == {"approval_rate_min": 0.5, "approval_min_attempts": 3}
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        audit = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "notification.alert_thresholds.updated")
        ).one()
        assert audit.actor_id == tenant.owner.id

    # One approved and two declined payments: 33 % of 3, an alert for this tenant only (the other keeps
    # the defaults: fewer than 10 decided payments are not news).
    for made in (tenant, other):
        make.payments(tenant=made, via="service")
        for _ in range(2):
            make.payments(tenant=made, card_number="4000 0000 0000 0002", via="service", expect="failed")
        detect_alerts(tenant_id=made.id)
    assert _kinds(clean, tenant) == [Kind.APPROVAL_RATE_LOW]
    assert _kinds(clean, other) == []

    # Emptied again: back to the default.
    page = client.get(PAGE).get_data(as_text=True)
    answer = client.post(ACTION, data={"csrf_token": csrf_token(page), "approval_rate_min": "0.5"})
    assert answer.status_code == 303
    assert _thresholds(clean, tenant) == {"approval_rate_min": 0.5}


def test_a_bad_value_is_a_clear_error_and_nothing_is_saved(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get(PAGE).get_data(as_text=True)
    for field, raw, message in (
        ("approval_rate_min", "1.5", "must be between 0.0 and 1.0"),
        ("spike_min_count", "many", "enter a whole number, or leave it empty"),
    ):
        answer = client.post(
            ACTION, data={"csrf_token": csrf_token(page), field: raw, "cooldown_minutes": "30"}
        )
        assert answer.status_code == 400
        shown = answer.get_data(as_text=True)
        assert message in shown and 'aria-invalid="true"' in shown and _value(shown, field) == raw
    assert _thresholds(clean, tenant) == {}
    missing_token = client.post(ACTION, data={"cooldown_minutes": "30"})
    assert missing_token.status_code == 400 and _thresholds(clean, tenant) == {}


def test_with_htmx_the_section_is_swapped_alone(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get(PAGE).get_data(as_text=True)
    answer = client.post(
        ACTION,
        data={"csrf_token": csrf_token(page), "cooldown_minutes": "30"},
        headers={"HX-Request": "true"},
    )
    fragment = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in fragment and 'id="alert-thresholds"' in fragment
    assert "The alert thresholds are saved." in fragment and _value(fragment, "cooldown_minutes") == "30"


def test_a_member_without_settings_write_neither_sees_nor_posts_them(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in_as(client, *add_member(clean, tenant, "analyst"))  # type: ignore[arg-type]
    page = client.get(PAGE).get_data(as_text=True)
    assert "Notification preferences" in page and "Alert thresholds" not in page
    answer = client.post(ACTION, data={"csrf_token": csrf_token(page), "cooldown_minutes": "1"})
    assert answer.status_code in (403, 404)
    assert _thresholds(clean, tenant) == {}
