"""Sign-in keeps the `?next=` deep link through the password and code steps, for paths of this site."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from core.clock import FrozenClock
from portal.views.auth import safe_next
from tests.fixtures import Factories
from tests.portal.test_portal_sessions import sign_in

HOSTILE = [
    "//evil.example/portal/",
    "https://evil.example/portal/",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " /portal/payments",
    "javascript:alert(1)",
    "evil.example/portal/",
    "/%2F/evil.example",
    "/checkout-elsewhere",
    "",
]


def test_a_deep_link_survives_the_password_and_code_steps(
    client: FlaskClient,
    make: Factories,
    clock: FrozenClock,
) -> None:
    tenant = make.tenants()
    bounced = client.get("/portal/payments?status=failed")
    assert bounced.status_code == 302
    assert bounced.location == "/portal/login?next=%2Fportal%2Fpayments%3Fstatus%3Dfailed"
    page = client.get(bounced.location).get_data(as_text=True)
    assert 'action="/portal/login?next=/portal/payments?status%3Dfailed"' in page
    assert sign_in(client, tenant, clock, next_url="/portal/payments?status=failed") == (
        "/portal/payments?status=failed"
    )


@pytest.mark.parametrize("target", HOSTILE)
def test_a_next_off_this_site_lands_on_the_portal_home(
    client: FlaskClient,
    make: Factories,
    clock: FrozenClock,
    target: str,
) -> None:
    tenant = make.tenants()
    page = client.get(f"/portal/login?next={quote(target, safe='')}").get_data(as_text=True)
    assert "evil" not in page
    assert sign_in(client, tenant, clock, next_url=target) == "/portal/"


def test_the_next_check_accepts_only_portal_paths() -> None:
    assert safe_next("/portal/payments/pay_123") == "/portal/payments/pay_123"
    assert safe_next("/portal") == "/portal"
    for target in HOSTILE:
        assert safe_next(target) is None, target
