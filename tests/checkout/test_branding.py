"""The tenant's logo and statement descriptor on the hosted checkout, its receipt and emailed receipt, the
payment API object and the processor call."""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.branding_images import WEBP, data_url, png
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session, page_text, submit_pay_form, work_until_settled
from tests.smtp_server import SmtpServer

SHOP = "https://shop.example"
LOGO = png(48, 16, rgb=(200, 30, 60))


def brand(client: FlaskClient, tenant: MadeTenant, **body: Any) -> dict[str, Any]:
    response = client.patch("/api/v1/checkout/settings", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 200, response.json
    return dict(response.json)


def logo_tag(page: str) -> dict[str, str] | None:
    """The attributes of the header's logo image, or None."""
    match = re.search(r'<img class="merchant-logo"([^>]*)>', page)
    if match is None:
        return None
    return {name: html.unescape(value) for name, value in re.findall(r'(\w[\w-]*)="([^"]*)"', match.group(1))}


# --- serving the logo ------------------------------------------------------------------------------------


def test_the_logo_is_served_by_kassa_with_its_type_and_cache_headers(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(LOGO))
    cs = create_session(client, tenant)
    src = logo_tag(client.get(f"/pay/{cs['id']}").get_data(as_text=True))["src"]  # type: ignore[index]
    digest = hashlib.sha256(LOGO).hexdigest()
    assert urlsplit(src).path == f"/pay/{cs['id']}/logo"
    assert parse_qs(urlsplit(src).query) == {"v": [digest[:16]]}

    served = client.get(src)
    assert served.status_code == 200 and served.data == LOGO
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["ETag"] == f'"{digest}"'  # strong: no W/
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Set-Cookie" not in served.headers

    # Without the version (or with an old one) the browser must revalidate; the ETag answers that cheaply.
    unversioned = client.get(f"/pay/{cs['id']}/logo")
    assert unversioned.status_code == 200 and unversioned.headers["Cache-Control"] == "no-cache"
    revalidated = client.get(f"/pay/{cs['id']}/logo", headers={"If-None-Match": f'"{digest}"'})
    assert revalidated.status_code == 304 and revalidated.data == b""
    assert client.get(f"/pay/{cs['id']}/logo", headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_embed_page_loads_the_logo_from_its_embed_twin(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(WEBP, "image/webp"), allowed_origins=[SHOP])
    cs = create_session(client, tenant)
    page = client.get(f"/embed/{cs['id']}?origin={SHOP}").get_data(as_text=True)
    src = logo_tag(page)["src"]  # type: ignore[index]
    assert urlsplit(src).path == f"/embed/{cs['id']}/logo" and not urlsplit(src).netloc
    served = client.get(src)
    assert served.status_code == 200 and served.data == WEBP
    assert served.headers["Content-Type"] == "image/webp"


def test_a_replaced_logo_gets_a_new_url_and_the_old_url_is_not_cached_for_long(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(LOGO))
    cs = create_session(client, tenant)
    old = logo_tag(client.get(f"/pay/{cs['id']}").get_data(as_text=True))["src"]  # type: ignore[index]
    brand(client, tenant, logo=data_url(WEBP, "image/webp"))
    new = logo_tag(client.get(f"/pay/{cs['id']}").get_data(as_text=True))["src"]  # type: ignore[index]
    assert new != old
    stale = client.get(old)
    assert stale.data == WEBP and stale.headers["Cache-Control"] == "no-cache"


def test_no_logo_no_image_and_the_logo_url_is_a_404(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    assert logo_tag(client.get(f"/pay/{cs['id']}").get_data(as_text=True)) is None
    assert client.get(f"/pay/{cs['id']}/logo").status_code == 404
    brand(client, tenant, logo=data_url(LOGO))
    assert client.get(f"/pay/{cs['id']}/logo").status_code == 200
    brand(client, tenant, logo=None)
    assert client.get(f"/pay/{cs['id']}/logo").status_code == 404


@pytest.mark.parametrize("session_id", ["cs_01jd8x000000000000000000000000000000", "cs_nope", "pay_x", "%00"])
def test_an_unknown_session_has_no_logo(client: FlaskClient, make: Factories, session_id: str) -> None:
    brand(client, make.tenants(), logo=data_url(LOGO))  # some tenant has one
    for prefix in ("pay", "embed"):
        assert client.get(f"/{prefix}/{session_id}/logo").status_code == 404


def test_a_session_only_ever_gets_its_own_tenants_logo(client: FlaskClient, make: Factories) -> None:
    a, b = make.tenants(), make.tenants()
    brand(client, a, logo=data_url(LOGO))
    session_a, session_b = create_session(client, a), create_session(client, b)
    assert client.get(f"/pay/{session_b['id']}/logo").status_code == 404  # b has none: not a's
    brand(client, b, logo=data_url(WEBP, "image/webp"))
    assert client.get(f"/pay/{session_b['id']}/logo").data == WEBP
    assert client.get(f"/pay/{session_a['id']}/logo").data == LOGO
    # Tenant a's version in the query changes nothing: the session decides whose logo it is.
    version = hashlib.sha256(LOGO).hexdigest()[:16]
    assert client.get(f"/pay/{session_b['id']}/logo?v={version}").data == WEBP


def test_an_expired_sessions_page_still_shows_the_logo(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(LOGO))
    cs = create_session(client, tenant)
    expired = client.post(
        f"/api/v1/checkout/sessions/{cs['id']}/expire", json={}, headers=auth(tenant.keys.secret_key)
    )
    assert expired.status_code == 200
    page = client.get(f"/pay/{cs['id']}")
    assert page.status_code == 410
    assert client.get(logo_tag(page.get_data(as_text=True))["src"]).data == LOGO  # type: ignore[index]


# --- the logo on the page --------------------------------------------------------------------------------


def test_the_page_header_shows_the_logo_named_by_the_display_name(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(LOGO), display_name='Mugs "&" <Co>')
    cs = create_session(client, tenant)
    page = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    tag = logo_tag(page)
    assert tag is not None
    assert tag["alt"] == 'Mugs "&" <Co>'  # escaped in the markup, the name itself once unescaped
    assert (tag["width"], tag["height"]) == ("48", "16")
    assert not urlsplit(tag["src"]).scheme and not urlsplit(tag["src"]).netloc, "same origin"
    assert "style" not in tag  # the CSP allows no style attributes: checkout.css sizes it
    assert 'src="data:' not in page


def test_a_payment_links_amount_page_shows_the_logo_too(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    brand(client, tenant, logo=data_url(LOGO))
    link = client.post(
        "/api/v1/payment_links", json={"currency": "EUR"}, headers=auth(tenant.keys.secret_key)
    ).json
    slug = link["url"].rsplit("/l/", 1)[1]
    tag = logo_tag(client.get(f"/l/{slug}").get_data(as_text=True))
    assert tag is not None and urlsplit(tag["src"]).path == f"/l/{slug}/logo"
    assert client.get(tag["src"]).data == LOGO
    assert client.get("/l/no-such-link/logo").status_code == 404


# --- the statement descriptor ----------------------------------------------------------------------------


def test_the_page_says_what_the_statement_will_show(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(name="Mug Makers")
    cs = create_session(client, tenant)
    assert "Appears on your statement as MUG MAKERS" in page_text(client.get(f"/pay/{cs['id']}"))
    brand(client, tenant, statement_descriptor="Mugs* Berlin")
    assert "Appears on your statement as MUGS* BERLIN" in page_text(client.get(f"/pay/{cs['id']}"))
    german = create_session(client, tenant, locale="de")
    assert "Erscheint auf Ihrer Abrechnung als MUGS* BERLIN" in page_text(client.get(f"/pay/{german['id']}"))


def _processor_calls(rt: Runtime, tenant: MadeTenant) -> list[dict[str, Any]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        events = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == actions.PAYMENT_PROCESSOR_CALLED)
        ).all()
        return [audit.read_details(uow.session, event, kms=rt.kms) or {} for event in events]


def test_the_descriptor_goes_with_the_payment_to_the_processor_receipt_and_email(
    client: FlaskClient, make: Factories, rt: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Mug Makers")
    cs = create_session(client, tenant, customer_email="ada@example.com")
    posted = submit_pay_form(client, cs["id"])
    assert posted.status_code == 303
    payment_id = posted.location.rsplit("/", 1)[1]
    # Resolved when the shopper confirmed: a later change does not rewrite what was sent.
    brand(client, tenant, statement_descriptor="SOMETHING ELSE")
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"

    payment = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key)).json
    assert payment["statement_descriptor"] == "MUG MAKERS"
    [call] = _processor_calls(rt, tenant)
    assert call["request"]["statement_descriptor"] == "MUG MAKERS"
    assert call["response"]["statement_descriptor"] == "MUG MAKERS"

    receipt = page_text(client.get(f"/pay/{cs['id']}/receipt"))
    assert "On your statement" in receipt and "MUG MAKERS" in receipt
    assert "SOMETHING ELSE" not in receipt
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert "On your statement: MUG MAKERS" in delivery.text("plain")
    page = html.unescape(delivery.text("html"))
    assert "On your statement" in page and "MUG MAKERS" in page


def test_the_german_receipt_email_names_the_statement_line_in_german(
    client: FlaskClient, make: Factories, rt: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Kaffeerösterei")
    brand(client, tenant, statement_descriptor="Kaffee* Roesterei")
    cs = create_session(client, tenant, customer_email="ada@example.com", locale="de")
    posted = submit_pay_form(client, cs["id"])
    assert str(work_until_settled(rt, tenant, posted.location.rsplit("/", 1)[1]).status) == "succeeded"
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert "Auf Ihrer Abrechnung: KAFFEE* ROESTEREI" in delivery.text("plain")
