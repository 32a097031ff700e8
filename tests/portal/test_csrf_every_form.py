"""Every form of the portal rejects a missing (or a forged) CSRF token: each POST rule of the route table
(portal/views/blueprint.py `ROUTES`), signed in as an owner and given ids of the tenant's own objects,
answers 400 and changes nothing; and every POST form the templates render carries its token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from portal.views.blueprint import ROUTES
from tests.factories import seed_every_table
from tests.fixtures import Factories
from tests.portal.test_cross_tenant_walk import _ARGUMENT, NOT_IDS, _id_of, _snapshot, _table
from tests.portal.test_mfa import sign_in_now

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: What the forms would send, so that only the token is missing.
FIELDS = {
    "amount": "1.00",
    "confirmed": "yes",
    "role": "viewer",
    "email": "someone@example.com",
    "password": "correct horse battery staple",
    "overlap": "0",
    "mode": "test",
    "name": "X",
    "permissions": "payments:read",
    "note": "csrf walk",
    "approve": "Approve",
    "refund": "y",
    "refund_thresholds": "EUR 1.00",
}


def test_every_portal_post_rejects_a_missing_or_forged_csrf_token(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    shop = make.tenants()
    seed_every_table(clean, shop)
    sign_in_now(client.application.test_client(), shop, clock)  # a second portal session to revoke
    sign_in_now(client, shop, clock)
    before = _snapshot(clean, shop)
    posts = [r for r in ROUTES if "POST" in r.methods]
    assert len(posts) >= 40
    accepted = []
    for route in posts:
        ids = {
            a: (
                "x"
                if a in NOT_IDS or a in ("token", "slug")
                else _id_of(clean, _table(route.endpoint, a), shop)
            )
            for a in _ARGUMENT.findall(route.rule)
        }
        url = "/portal" + _ARGUMENT.sub(lambda m, ids=ids: ids[m.group(1)], route.rule)  # type: ignore[misc]
        for data in (FIELDS, {**FIELDS, "csrf_token": "forged", "pw-csrf_token": "forged"}):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.post(url, data=data, headers=headers)
                if response.status_code != 400 or "CSRF" not in response.get_data(as_text=True):
                    accepted.append(f"POST {url} {sorted(headers)} -> {response.status_code}")
    assert not accepted, "\n".join(accepted)
    assert _snapshot(clean, shop) == before
    assert client.get("/portal/").status_code == 200  # still signed in: no sign-out went through


def test_every_post_form_in_the_templates_carries_its_csrf_token() -> None:
    missing = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        html = template.read_text()
        for form in re.finditer(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S | re.I):
            if "csrf_token" not in form.group(1) and "hidden_tag()" not in form.group(1):
                missing.append(f"{template.relative_to(TEMPLATES)}: {form.group(0)[:80]}")
    assert not missing, "\n".join(missing)
