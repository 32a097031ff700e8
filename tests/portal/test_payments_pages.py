from __future__ import annotations

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.portal.test_sign_in import sign_in


def test_the_portal_lists_and_shows_the_tenants_payments(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    a, b = make.tenants(), make.tenants()
    paid = make.payments(tenant=a, amount=1999).id
    declined = make.payments(tenant=a, failed=True).id
    others = make.payments(tenant=b, pending=True).id
    sign_in(client, a)

    listing = client.get("/portal/payments").get_data(as_text=True)
    assert paid in listing and declined in listing and others not in listing
    assert "€19.99" in listing
    failed_only = client.get("/portal/payments?status=failed").get_data(as_text=True)
    assert declined in failed_only and paid not in failed_only
    fragment = client.get("/portal/payments?status=failed", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "<html" not in fragment and declined in fragment

    detail = client.get(f"/portal/payments/{paid}").get_data(as_text=True)
    assert "succeeded" in detail and "payment.succeeded" in detail and "···· 4242" in detail
    assert client.get(f"/portal/payments/{others}").status_code == 404
    assert client.get("/portal/payments?status=bogus").status_code == 400


def test_payments_need_sign_in(client: FlaskClient) -> None:
    response = client.get("/portal/payments")
    assert response.status_code == 302 and "/portal/login" in response.location


def test_the_portal_lists_only_test_mode_payments(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    # The portal has no test/live switch yet (issue 13): it shows test mode, and a live payment of the same
    # tenant is not on any page of the list, with or without a filter.
    tenant = make.tenants()
    test_payment = make.payments(tenant=tenant, pending=True).id
    live_payment = make.payments(
        tenant=tenant, session=make.sessions(tenant=tenant, livemode=True), pending=True
    ).id
    sign_in(client, tenant)

    listing = client.get("/portal/payments").get_data(as_text=True)
    assert test_payment in listing and live_payment not in listing
    pending_only = client.get("/portal/payments?status=pending").get_data(as_text=True)
    assert test_payment in pending_only and live_payment not in pending_only
    older = client.get(f"/portal/payments?after={test_payment}").get_data(as_text=True)
    assert live_payment not in older


def test_the_portal_list_pages_by_cursor(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    made = [make.payments(tenant=tenant, pending=True).id for _ in range(26)]
    sign_in(client, tenant)

    first = client.get("/portal/payments").get_data(as_text=True)
    assert made[-1] in first and made[1] in first and made[0] not in first
    assert f"after={made[1]}" in first
    older = client.get(f"/portal/payments?after={made[1]}").get_data(as_text=True)
    assert made[0] in older and made[1] not in older and "Older payments" not in older
