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
