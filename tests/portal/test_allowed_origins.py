"""Allowed widget origins are bare origins: they go verbatim into the embed page's CSP (`frame-ancestors`),
so nothing that could add a source or a directive to it is accepted."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tenants.lookup import tenant_by_id
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session
from tests.portal.test_api import assert_error

SHOP = "https://shop.example"


def csp_of_embed_page(client: FlaskClient, session_id: str) -> str:
    """The embed page's CSP without its per-request nonce."""
    response = client.get(f"/embed/{session_id}?origin={SHOP}")
    assert response.status_code == 200
    return re.sub(r"'nonce-[^']+'", "'nonce'", response.headers["Content-Security-Policy"])


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example; script-src *",  # a second directive
        "https://shop.example;",
        "https://shop.example:443;script-src https://evil.example",
        "https://shop.example https://evil.example",  # a second source
        "https://shop.example,https://evil.example",
        "https://shop.example\thttps://evil.example",
        " https://shop.example",
        "https://shop.example\n",
        "https://'self'",
        "https://shop.example'",
        'https://sh"op.example',
        "https://*.example",
        "https://*",
        "*",
        "https://shop.example/path",
        "https://shop.example/?x=1",
        "https://shop.example#top",
        "https://user:pw@shop.example",
        "http://shop.example",  # plain http beyond localhost
        "https://shop.example:99999",
        "https://shop.example:",
        "https://shop..example",
        "javascript:alert(1)",
        "data:",
        "'none'",
    ],
)
def test_an_origin_that_is_not_bare_is_refused_and_changes_nothing(
    client: FlaskClient, make: Factories, origin: str
) -> None:
    tenant = make.tenants()
    headers = auth(tenant.keys.secret_key)
    assert client.patch("/api/v1/checkout/settings", json={"allowed_origins": [SHOP]}, headers=headers).json
    cs = create_session(client, tenant)
    before = csp_of_embed_page(client, cs["id"])
    response = client.patch(
        "/api/v1/checkout/settings", json={"allowed_origins": [SHOP, origin]}, headers=headers
    )
    error = assert_error(response, 400, "parameter_invalid")
    assert error["param"] == "allowed_origins"
    assert client.get("/api/v1/checkout/settings", headers=headers).json["allowed_origins"] == [SHOP]
    assert csp_of_embed_page(client, cs["id"]) == before
    assert before.endswith(f"frame-ancestors {SHOP}")


def test_bare_origins_are_stored_normalized_and_framed_exactly(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    given = ["HTTPS://Shop.Example/", "http://localhost:3000", "http://127.0.0.1:5001", "http://[::1]:8080"]
    given += ["https://pay.shop.example:8443", "https://xn--bcher-kva.example"]
    response = client.patch(
        "/api/v1/checkout/settings", json={"allowed_origins": given}, headers=auth(tenant.keys.secret_key)
    )
    assert response.status_code == 200, response.json
    stored = response.json["allowed_origins"]
    assert stored == sorted(
        [
            SHOP,
            "http://localhost:3000",
            "http://127.0.0.1:5001",
            "http://[::1]:8080",
            "https://pay.shop.example:8443",
            "https://xn--bcher-kva.example",
        ]
    )
    cs = create_session(client, tenant)
    assert csp_of_embed_page(client, cs["id"]).endswith("frame-ancestors " + " ".join(stored))


def test_an_origin_stored_before_the_check_never_reaches_the_csp(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        row = tenant_by_id(uow.session, tenant.id)
        row.checkout_settings = {"allowed_origins": [SHOP, "https://shop.example:443;script-src *"]}
    cs = create_session(client, tenant)
    csp = csp_of_embed_page(client, cs["id"])
    assert csp.endswith(f"frame-ancestors {SHOP}") and "script-src *" not in csp
