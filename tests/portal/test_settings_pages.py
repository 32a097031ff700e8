"""The settings screens: business profile (on receipts), branding with its preview, checkout (origins,
methods, receipt emails), risk thresholds and the block list, and the account's time zone.

Each form: a valid change is saved and audited; each invalid field gets its message and changes nothing;
a missing CSRF token changes nothing; a role without settings:write gets 403; another tenant's settings
stay out of sight."""

from __future__ import annotations

import re
from html import unescape
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.jobs.runtime import Runtime
from core.risk import service as risk
from core.risk.models import RiskBlock
from tenants import business_profile, checkout_settings
from tenants.models import Role, User
from tests.branding_images import SVG, png
from tests.core.test_receipts import SHOPPER_EMAIL, pay, receipts_of
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.portal.team_helpers import add_member, audit_rows, csrf_token, sign_in_as
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer


def page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def submit(client: FlaskClient, url: str, data: dict[str, Any], *, page_url: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get(page_url or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kw)


def actions_of(rt: Runtime, tenant: MadeTenant) -> list[str]:
    return [row.action for row in audit_rows(rt, tenant)]


def profile_of(rt: Runtime, tenant: MadeTenant) -> business_profile.BusinessProfile:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return business_profile.of(uow.session, tenant_id=tenant.id)


def settings_of(rt: Runtime, tenant: MadeTenant, *, livemode: bool = False) -> dict[str, Any]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return checkout_settings.view(uow.session, tenant_id=tenant.id, livemode=livemode)


def blocks_of(rt: Runtime, tenant: MadeTenant) -> list[RiskBlock]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        found = risk.list_blocks(uow.session, tenant_id=tenant.id)
        uow.session.expunge_all()
        return found


PROFILE = {
    "legal_name": "Tea & Cake GmbH",
    "address": "Hauptstraße 1\n10115 Berlin\nGermany",
    "support_email": "Help@TeaCake.example",
    "support_url": "https://teacake.example/help",
}


# -- business profile ---------------------------------------------------------------------------------


def test_the_business_profile_is_saved_audited_and_printed_on_receipts(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Tea & Cake")
    sign_in(client, tenant)
    response = submit(client, "/portal/settings/business", PROFILE)
    assert response.status_code == 303
    shown = page(client, "/portal/settings/business")
    assert "Business profile saved" in shown and "help@teacake.example" in shown
    assert profile_of(clean, tenant).address == "Hauptstraße 1\n10115 Berlin\nGermany"
    assert actions.BUSINESS_PROFILE_UPDATED in actions_of(clean, tenant)

    pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    work(clean)
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    for text in (delivery.text("plain"), unescape(delivery.text("html"))):
        assert "help@teacake.example" in text and "https://teacake.example/help" in text
        assert "Tea & Cake GmbH" in text and "10115 Berlin" in text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("support_email", "not an email", "Enter an email address like support@shop.example."),
        ("support_url", "http://teacake.example", "Enter an https address like https://shop.example/help."),
        ("legal_name", "x" * 201, "At most 200 characters."),
        ("address", "y" * 501, "At most 500 characters."),
    ],
)
def test_each_invalid_profile_field_gets_its_message_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime, field: str, value: str, message: str
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(client, "/portal/settings/business", {**PROFILE, field: value})
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    assert f'id="{field}-error"' in html and message in html
    assert profile_of(clean, tenant).legal_name is None
    assert actions.BUSINESS_PROFILE_UPDATED not in actions_of(clean, tenant)


@pytest.mark.parametrize("field", ["address", "legal_name", "support_url", "unknown\x00"])
def test_a_nul_character_in_the_profile_is_a_400_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime, field: str
) -> None:
    # The form fuzzer (tests/chaos/test_fuzz_forms.py) found it: a NUL in the address reached
    # PostgreSQL's jsonb (a 500). Any posted form field with one is refused before the view reads it.
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(client, "/portal/settings/business", {**PROFILE, field: "Haupt\x00straße"})
    assert response.status_code == 400
    assert "Check what you sent and try again." in unescape(response.get_data(as_text=True))
    assert profile_of(clean, tenant).legal_name is None
    assert actions.BUSINESS_PROFILE_UPDATED not in actions_of(clean, tenant)
    assert submit(client, "/portal/settings/business", PROFILE).status_code == 303


def test_two_bad_profile_fields_get_a_message_each(client: FlaskClient, make: Factories) -> None:
    sign_in(client, tenant := make.tenants())
    response = submit(
        client,
        "/portal/settings/business",
        {**PROFILE, "support_email": "x", "support_url": "ftp://x.example"},
    )
    html = response.get_data(as_text=True)
    assert (
        response.status_code == 400
        and 'id="support_email-error"' in html
        and 'id="support_url-error"' in html
    )
    assert tenant


def test_a_form_without_its_csrf_token_changes_nothing(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    for url, data in (
        ("/portal/settings/business", PROFILE),
        ("/portal/settings/branding", {"display_name": "Forged", "submit": "Save branding"}),
        ("/portal/settings/checkout", {"payment_methods": "card"}),
        ("/portal/settings/risk", {"max_amount": "5"}),
        ("/portal/settings/risk/blocks", {"kind": "country", "value": "KP", "note": "x"}),
    ):
        assert client.post(url, data=data).status_code == 400, url
    assert profile_of(clean, tenant).legal_name is None
    assert settings_of(clean, tenant)["display_name"] != "Forged"
    assert settings_of(clean, tenant)["payment_methods"] == ["card", "wallet", "bank"]
    assert blocks_of(clean, tenant) == []
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert risk.get_settings(uow.session, tenant_id=tenant.id)["max_amount"] == 1_000_000


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SUPPORT, Role.ANALYST])
def test_a_role_without_settings_write_sees_the_settings_but_gets_403_on_every_change(
    app: Flask, make: Factories, clean: Runtime, role: Role
) -> None:
    tenant = make.tenants()
    member = app.test_client()
    sign_in_as(member, *add_member(clean, tenant, role))
    shown = page(member, "/portal/settings/business")
    assert "can see these settings but not change them" in shown and "Save business profile" not in shown
    token = csrf_token(member.get("/portal/account").get_data(as_text=True))
    for url, data in (
        ("/portal/settings/business", PROFILE),
        ("/portal/settings/branding", {"display_name": "Nope", "submit": "Save branding"}),
        ("/portal/settings/checkout", {"payment_methods": "card"}),
        ("/portal/settings/risk", {"max_amount": "5"}),
        ("/portal/settings/risk/blocks", {"kind": "country", "value": "KP", "note": "x"}),
        ("/portal/settings/risk/blocks/blk_x/remove", {}),
    ):
        assert member.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert profile_of(clean, tenant).legal_name is None and blocks_of(clean, tenant) == []


def test_a_developer_holds_settings_write(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    developer = app.test_client()
    email, secret = add_member(clean, tenant, Role.DEVELOPER)
    sign_in_as(developer, email, secret)
    assert submit(developer, "/portal/settings/business", PROFILE).status_code == 303
    [row] = [r for r in audit_rows(clean, tenant) if r.action == actions.BUSINESS_PROFILE_UPDATED]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert row.actor_id == uow.session.scalar(select(User.id).where(User.email == email))


def test_another_tenants_settings_stay_out_of_sight(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    mine, theirs = make.tenants(name="Mine"), make.tenants(name="Theirs")
    other = app.test_client()
    sign_in(other, theirs)
    assert (
        submit(other, "/portal/settings/business", {**PROFILE, "legal_name": "Theirs Ltd"}).status_code == 303
    )
    assert (
        submit(
            other,
            "/portal/settings/risk/blocks",
            {"kind": "bin", "value": "411111", "note": "their reason"},
            page_url="/portal/settings/risk",
        ).status_code
        == 303
    )
    [their_block] = blocks_of(clean, theirs)

    sign_in(client, mine)
    for url in ("/portal/settings/business", "/portal/settings/risk", "/portal/settings/branding"):
        shown = page(client, url)
        assert "Theirs Ltd" not in shown and "their reason" not in shown and "411111" not in shown
    token = csrf_token(client.get("/portal/settings/risk").get_data(as_text=True))
    response = client.post(
        f"/portal/settings/risk/blocks/{their_block.id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 404
    assert [b.id for b in blocks_of(clean, theirs)] == [their_block.id]


# -- branding -----------------------------------------------------------------------------------------


BRANDING = {"display_name": "Mug Makers", "brand_color": "#1A7F37", "statement_descriptor": "MUGMAKERS SHOP"}


def test_branding_with_a_logo_is_saved_for_the_current_mode_and_audited(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert "Test mode settings" in page(client, "/portal/settings/branding")
    response = submit(
        client,
        "/portal/settings/branding",
        {**BRANDING, "submit": "Save branding", "logo": (BytesIO(png(96, 32)), "logo.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    saved = settings_of(clean, tenant)
    assert saved["display_name"] == "Mug Makers" and saved["brand_color"] == "#1a7f37"
    assert saved["statement_descriptor"] == "MUGMAKERS SHOP" and saved["logo"]["content_type"] == "image/png"
    assert settings_of(clean, tenant, livemode=True)["display_name"] != "Mug Makers", "live mode untouched"
    assert actions.CHECKOUT_SETTINGS_UPDATED in actions_of(clean, tenant)
    shown = page(client, "/portal/settings/branding")
    assert 'alt="Mug Makers"' in shown and "MUGMAKERS SHOP" in shown
    logo_url = re.search(r'src="(/portal/settings/branding/logo[^"]*)"', shown)
    assert logo_url and client.get(logo_url.group(1).replace("&amp;", "&")).mimetype == "image/png"
    css = re.search(r'href="(/portal/settings/branding/preview\.css[^"]*)"', shown)
    assert css and "--brand: #1a7f37" in client.get(css.group(1).replace("&amp;", "&")).get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"brand_color": "green"}, "brand_color", "brand_color must be a hex colour like #1a73e8"),
        ({"display_name": ""}, "display_name", "Enter the name shoppers see."),
        ({"statement_descriptor": "12345"}, "statement_descriptor", "letter"),
        ({"logo": (BytesIO(SVG), "logo.svg", "image/svg+xml")}, "logo", "SVG"),
    ],
)
def test_each_invalid_branding_field_gets_its_message_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime, changes: dict[str, Any], field: str, message: str
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    before = settings_of(clean, tenant)
    response = submit(
        client,
        "/portal/settings/branding",
        {**BRANDING, "submit": "Save branding", **changes},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    error = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    assert error and message in error.group(1), html[-3000:]
    assert settings_of(clean, tenant) == before
    assert actions.CHECKOUT_SETTINGS_UPDATED not in actions_of(clean, tenant)


def test_the_preview_shows_unsaved_values_and_a_colour_too_light_for_text(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    before = settings_of(clean, tenant)
    response = submit(
        client,
        "/portal/settings/branding",
        {
            "display_name": "Draft Name",
            "brand_color": "#7a7a7a",
            "statement_descriptor": "",
            "preview": "Preview",
        },
    )
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    assert "Draft Name" in html and "would be hard to read" in html
    assert "DRAFT NAME" in html, "the descriptor derived from the unsaved name"
    # htmx asks for the preview alone as the form is typed in.
    token = csrf_token(client.get("/portal/settings/branding").get_data(as_text=True))
    fragment = client.post(
        "/portal/settings/branding",
        data={"display_name": "Typed", "brand_color": "#1a7f37", "csrf_token": token},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="preview"') and "Typed" in fragment
    assert settings_of(clean, tenant) == before


# -- checkout ------------------------------------------------------------------------------------------


def test_origins_methods_and_receipt_emails_are_saved_and_receipts_stop(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(
        client,
        "/portal/settings/checkout",
        {
            "allowed_origins": "https://Shop.example\nhttp://localhost:3000\n",
            "payment_methods": ["card", "bank"],
        },
    )
    assert response.status_code == 303
    saved = settings_of(clean, tenant)
    assert saved["allowed_origins"] == ["http://localhost:3000", "https://shop.example"]
    assert saved["payment_methods"] == ["card", "bank"] and saved["receipt_emails"] is False
    assert actions.CHECKOUT_SETTINGS_UPDATED in actions_of(clean, tenant)
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    work(clean)
    assert receipts_of(clean, tenant, payment_id) == []
    assert mail_to_smtp.inbox.wait_for(1, timeout=0.3) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"allowed_origins": "https://shop.example/path", "payment_methods": "card"},
            "allowed_origins",
            "not an origin",
        ),
        (
            {"allowed_origins": "http://shop.example", "payment_methods": "card"},
            "allowed_origins",
            "use https",
        ),
        ({"allowed_origins": ""}, "payment_methods", "Keep at least one payment method on."),
        ({"payment_methods": "cash"}, "payment_methods", "is not a valid choice"),
    ],
)
def test_each_invalid_checkout_field_gets_its_message_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime, data: dict[str, str], field: str, message: str
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    before = settings_of(clean, tenant)
    response = submit(client, "/portal/settings/checkout", {**data, "receipt_emails": "y"})
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    error = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    assert error and message in error.group(1)
    assert settings_of(clean, tenant) == before


# -- risk ----------------------------------------------------------------------------------------------


THRESHOLDS = {
    "max_amount": "2000000",
    "review_amount": "750000",
    "max_attempts_per_card_hour": "5",
    "max_attempts_per_email_hour": "6",
    "max_attempts_per_ip_hour": "7",
    "max_declines_per_session": "3",
    "max_declines_per_ip_hour": "4",
    "max_declines_per_card_hour": "0",
}


def test_risk_thresholds_are_saved_and_audited_with_before_and_after(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert submit(client, "/portal/settings/risk", THRESHOLDS).status_code == 303
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        saved = risk.get_settings(uow.session, tenant_id=tenant.id)
    assert saved["max_amount"] == 2_000_000 and saved["max_declines_per_card_hour"] == 0
    [row] = [r for r in audit_rows(clean, tenant) if r.action == actions.RISK_SETTINGS_UPDATED]
    assert row.subject_type == "risk_settings"
    assert "Risk thresholds saved" in page(client, "/portal/settings/risk")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_amount", "ten", "Enter a whole number"),
        ("review_amount", "", "Enter a whole number"),
        ("max_attempts_per_ip_hour", "9999999", "a whole number from 0 (rule off) to 1000000"),
    ],
)
def test_each_invalid_threshold_gets_its_message_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime, field: str, value: str, message: str
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(client, "/portal/settings/risk", {**THRESHOLDS, field: value})
    assert response.status_code == 400
    error = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', unescape(response.get_data(as_text=True)))
    assert error and message in error.group(1)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert risk.get_settings(uow.session, tenant_id=tenant.id)["max_amount"] == 1_000_000
    assert actions.RISK_SETTINGS_UPDATED not in actions_of(clean, tenant)


def test_a_block_list_entry_shows_who_added_it_and_why_and_can_be_removed(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(
        client,
        "/portal/settings/risk/blocks",
        {"kind": "email", "value": "Fraud@Example.com", "note": "Chargeback fraud, case 1142"},
        page_url="/portal/settings/risk",
    )
    assert response.status_code == 303
    [block] = blocks_of(clean, tenant)
    assert "fraud@example.com" not in block.value.lower(), "stored hashed"
    assert block.created_by_type == "user" and block.note == "Chargeback fraud, case 1142"
    shown = page(client, "/portal/settings/risk")
    row = shown[shown.index('id="blocks"') :]
    assert "Chargeback fraud, case 1142" in row and tenant.owner_email in row and "Email address" in row
    added = [r for r in audit_rows(clean, tenant) if r.action == actions.RISK_BLOCK_ADDED]
    assert len(added) == 1 and added[0].subject_id == block.id

    token = csrf_token(shown)
    assert (
        client.post(f"/portal/settings/risk/blocks/{block.id}/remove", data={"csrf_token": token}).status_code
        == 303
    )
    assert blocks_of(clean, tenant) == []
    assert actions.RISK_BLOCK_REMOVED in actions_of(clean, tenant)
    assert "Nothing is blocked yet" in page(client, "/portal/settings/risk")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "ip", "value": "300.1.1.1", "note": "bot"}, "value", "is not an IPv4 or IPv6 address"),
        ({"kind": "bin", "value": "41", "note": "bot"}, "value", "first 6 to 8 digits"),
        ({"kind": "country", "value": "XX", "note": "bot"}, "value", "country code"),
        ({"kind": "email", "value": "a@b.example", "note": ""}, "note", "Say why"),
        ({"kind": "phone", "value": "123", "note": "bot"}, "kind", "Not a valid choice"),
        ({"kind": "email", "value": "", "note": "bot"}, "value", "Enter what to block."),
    ],
)
def test_each_invalid_block_field_gets_its_message_and_nothing_is_added(
    client: FlaskClient, make: Factories, clean: Runtime, data: dict[str, str], field: str, message: str
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(client, "/portal/settings/risk/blocks", data, page_url="/portal/settings/risk")
    assert response.status_code == 400
    error = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', unescape(response.get_data(as_text=True)))
    assert error and message in error.group(1)
    assert blocks_of(clean, tenant) == []


# -- account: time zone -------------------------------------------------------------------------------


def test_the_time_zone_is_saved_audited_and_portal_dates_follow_it(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert (
        submit(
            client,
            "/portal/settings/risk/blocks",
            {"kind": "country", "value": "KP", "note": "sanctions"},
            page_url="/portal/settings/risk",
        ).status_code
        == 303
    )
    assert "UTC" in page(client, "/portal/settings/risk").split('id="blocks"')[1]
    response = submit(
        client, "/portal/account/time-zone", {"time_zone": "Asia/Tokyo"}, page_url="/portal/account"
    )
    assert response.status_code == 303
    account = page(client, "/portal/account")
    assert "Dates are now shown in Asia/Tokyo time" in account
    assert re.search(r'<option selected value="Asia/Tokyo">|<option value="Asia/Tokyo" selected', account)
    rows = page(client, "/portal/settings/risk").split('id="blocks"')[1]
    assert "+0900" in rows and "UTC" not in rows, rows[:800]
    assert actions.USER_TIME_ZONE_CHANGED in actions_of(clean, tenant)


def test_an_unknown_time_zone_gets_its_message_and_nothing_changes(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = submit(
        client, "/portal/account/time-zone", {"time_zone": "Mars/Olympus"}, page_url="/portal/account"
    )
    assert response.status_code == 400
    assert "Choose a time zone from the list" in unescape(response.get_data(as_text=True))
    assert client.post("/portal/account/time-zone", data={"time_zone": "Asia/Tokyo"}).status_code == 400
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(User.time_zone).where(User.email == tenant.owner_email)) is None
    assert actions.USER_TIME_ZONE_CHANGED not in actions_of(clean, tenant)


@pytest.mark.parametrize(
    ("url", "data", "field"),
    [
        ("/portal/settings/business", {**PROFILE, "support_email": "nope"}, "support_email"),
        (
            "/portal/settings/checkout",
            {"allowed_origins": "ftp://x", "payment_methods": "card"},
            "allowed_origins",
        ),
    ],
)
def test_htmx_gets_the_form_alone_with_its_errors_as_200(
    client: FlaskClient, make: Factories, url: str, data: dict[str, str], field: str
) -> None:
    sign_in(client, make.tenants())
    response = submit(client, url, data, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="settings-form"')
    assert f'id="{field}-error"' in html


def test_branding_and_checkout_settings_are_the_current_modes_and_say_so(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    from tests.portal.test_portal_mode import switch

    tenant = make.tenants(name="Two Modes")
    sign_in(client, tenant)
    switch(client, "live", "/portal/settings/branding")
    shown = page(client, "/portal/settings/branding")
    assert "Live mode settings" in shown and "live-mode payment page" in shown
    assert (
        submit(
            client,
            "/portal/settings/branding",
            {**BRANDING, "display_name": "Live Name", "submit": "Save branding"},
        ).status_code
        == 303
    )
    assert "Branding saved for live mode." in page(client, "/portal/settings/branding")
    assert (
        submit(
            client, "/portal/settings/checkout", {"payment_methods": "card", "allowed_origins": ""}
        ).status_code
        == 303
    )
    live, test = settings_of(clean, tenant, livemode=True), settings_of(clean, tenant)
    assert live["display_name"] == "Live Name" and live["payment_methods"] == ["card"]
    assert live["receipt_emails"] is False
    assert test["display_name"] == "Two Modes" and test["payment_methods"] == ["card", "wallet", "bank"]
    assert test["receipt_emails"] is True
    # The account's own settings are for both modes, and say so.
    assert "Both modes" in page(client, "/portal/settings/business")
    assert "Both modes" in page(client, "/portal/settings/risk")


def test_the_api_switches_receipt_emails_per_mode(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    from tests.payments_helpers import auth

    tenant = make.tenants()
    response = client.patch(
        "/api/v1/checkout/settings", json={"receipt_emails": False}, headers=auth(tenant.keys.secret_key)
    )
    assert response.status_code == 200 and response.json["receipt_emails"] is False
    refused = client.patch(
        "/api/v1/checkout/settings", json={"receipt_emails": "no"}, headers=auth(tenant.keys.secret_key)
    )
    assert refused.status_code == 400 and refused.json["error"]["param"] == "receipt_emails"
    assert settings_of(clean, tenant)["receipt_emails"] is False
    assert settings_of(clean, tenant, livemode=True)["receipt_emails"] is True
