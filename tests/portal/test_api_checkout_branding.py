"""The checkout settings' logo and statement descriptor, through PATCH /api/v1/checkout/settings."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.branding_images import JPEG, SVG, WEBP, data_url, png
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth

SETTINGS = "/api/v1/checkout/settings"


def patch(client: FlaskClient, tenant: MadeTenant, **body: Any) -> Any:
    return client.patch(SETTINGS, json=body, headers=auth(tenant.keys.secret_key))


def settings(client: FlaskClient, tenant: MadeTenant) -> dict[str, Any]:
    response = client.get(SETTINGS, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 200
    return dict(response.json)


def last_settings_audit(rt: Runtime, tenant: MadeTenant) -> dict[str, Any]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        event = uow.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == actions.CHECKOUT_SETTINGS_UPDATED)
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert event is not None
        details = audit.read_details(uow.session, event, kms=rt.kms)
    assert details is not None
    return details


# --- logo ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "content_type"),
    [(png(), "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "webp"],
)
def test_a_logo_is_kept_and_described_by_type_size_and_hash_never_echoed(
    client: FlaskClient, make: Factories, clean: Runtime, image: bytes, content_type: str
) -> None:
    tenant = make.tenants()
    response = patch(client, tenant, logo=data_url(image, content_type))
    assert response.status_code == 200, response.json
    described = {
        "content_type": content_type,
        "bytes": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
    }
    assert response.json["logo"] == described
    assert settings(client, tenant)["logo"] == described
    encoded = base64.b64encode(image).decode()
    assert encoded[:40] not in response.get_data(as_text=True)
    details = last_settings_audit(clean, tenant)
    assert details == {"changed": ["logo"], "livemode": False, "logo": described}


def test_a_logo_declared_as_image_jpg_is_taken_as_jpeg(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    response = patch(client, tenant, logo=data_url(JPEG, "image/jpg"))
    assert response.status_code == 200, response.json
    assert response.json["logo"]["content_type"] == "image/jpeg"


def test_base64_wrapped_over_lines_is_accepted(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    encoded = base64.encodebytes(JPEG).decode()  # MIME style: a line break every 76 characters
    response = patch(client, tenant, logo=f"data:image/jpeg;base64,{encoded}")
    assert response.status_code == 200, response.json
    assert response.json["logo"]["bytes"] == len(JPEG)


def test_a_new_logo_replaces_the_old_and_null_removes_it(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    assert patch(client, tenant, logo=data_url(png(), "image/png")).status_code == 200
    replaced = patch(client, tenant, logo=data_url(WEBP, "image/webp"))
    assert replaced.json["logo"]["content_type"] == "image/webp"
    removed = patch(client, tenant, logo=None)
    assert removed.status_code == 200 and removed.json["logo"] is None
    assert settings(client, tenant)["logo"] is None
    assert last_settings_audit(clean, tenant) == {"changed": ["logo"], "livemode": False, "logo": None}
    assert patch(client, tenant, logo=None).status_code == 200  # removing no logo is fine


def test_other_fields_leave_the_logo_alone(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    kept = patch(client, tenant, logo=data_url(png(), "image/png")).json["logo"]
    assert patch(client, tenant, brand_color="#112233").json["logo"] == kept


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


TOO_BIG = png(200, 200, noise=True)  # random pixels do not compress: about 120 KB
BAD_LOGOS: dict[str, tuple[object, str]] = {
    "not a string": (42, "logo must be of type"),
    "a link to an image elsewhere": ("https://cdn.example/logo.png", "data URL"),
    "svg declared": (f"data:image/svg+xml;base64,{_b64(SVG)}", "SVG logos are not accepted"),
    "svg bytes declared as png": (f"data:image/png;base64,{_b64(SVG)}", "SVG logos are not accepted"),
    "gif": ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "PNG, JPEG or WebP"),
    "no type": (f"data:;base64,{_b64(png())}", "PNG, JPEG or WebP"),
    "too big": (data_url(TOO_BIG), "too large: at most 100 KB (102400 bytes)"),
    "jpeg bytes declared as png": (data_url(JPEG, "image/png"), "its bytes are image/jpeg"),
    "png bytes declared as webp": (data_url(png(), "image/webp"), "its bytes are image/png"),
    "text declared as png": (data_url(b"<html><body>hello</body></html>"), "not a PNG, JPEG or WebP"),
    "invalid base64": ("data:image/png;base64,iVBORw0K!!!not-base64", "not valid base64"),
    "base64 without its padding": ("data:image/png;base64,iVBORw0KGgo", "not valid base64"),
    "not base64-encoded": ("data:image/png,%89PNG%0D%0A", "must be base64-encoded"),
    "empty": ("data:image/png;base64,", "logo is empty"),
    "a png signature and nothing else": (data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 8), "not a readable"),
    "a png too wide": (data_url(png(5000, 1)), "at most 4096"),
}


@pytest.mark.parametrize("case", BAD_LOGOS)
def test_bad_logos_are_a_400_naming_logo_and_change_nothing(
    client: FlaskClient, make: Factories, case: str
) -> None:
    tenant = make.tenants()
    assert patch(client, tenant, logo=data_url(png(), "image/png")).status_code == 200
    before = settings(client, tenant)
    value, explained = BAD_LOGOS[case]
    response = patch(client, tenant, logo=value, display_name="Changed Too")
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "parameter_invalid" and error["param"] == "logo"
    assert explained in error["message"], error["message"]
    assert settings(client, tenant) == before


# --- statement descriptor --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Mug Makers", "MUG MAKERS"),
        ("  mug   makers  ", "MUG MAKERS"),
        ("TEA & CAKE* BERLIN", "TEA & CAKE* BERLIN"),
        ("O'Neil's Shop, Ltd.", "O'NEIL'S SHOP, LTD."),
        ("A2345", "A2345"),
        ("ABCDEFGHIJKLMNOPQRSTUV", "ABCDEFGHIJKLMNOPQRSTUV"),
    ],
)
def test_a_statement_descriptor_is_stored_upper_cased(
    client: FlaskClient, make: Factories, clean: Runtime, given: str, stored: str
) -> None:
    tenant = make.tenants(name="Something Else")
    response = patch(client, tenant, statement_descriptor=given)
    assert response.status_code == 200, response.json
    assert response.json["statement_descriptor"] == stored
    assert response.json["effective_statement_descriptor"] == stored
    assert last_settings_audit(clean, tenant) == {
        "changed": ["statement_descriptor"],
        "livemode": False,
        "statement_descriptor": stored,
    }


BAD_DESCRIPTORS: dict[str, tuple[object, str]] = {
    "four characters": ("ABCD", "5-22 characters"),
    "twenty-three characters": ("A" * 23, "5-22 characters"),
    "only spaces": ("       ", "5-22 characters"),
    "no letter": ("12345 678", "at least one letter"),
    "an accent": ("Café Olé", "'é'"),
    "angle brackets": ("<script>x", "'<', '>'"),
    "a double quote": ('Say "hi" shop', "'\"'"),
    "a backslash": ("Back\\slash", "'\\\\'"),
    "a line break": ("Mug\nMakers", "'\\n'"),
    "an emoji": ("Mug Makers ☕", "'☕'"),
    "not a string": (12345, "statement_descriptor must be of type"),
}


@pytest.mark.parametrize("case", BAD_DESCRIPTORS)
def test_bad_statement_descriptors_are_a_400_naming_the_field(
    client: FlaskClient, make: Factories, case: str
) -> None:
    tenant = make.tenants()
    before = settings(client, tenant)
    value, explained = BAD_DESCRIPTORS[case]
    response = patch(client, tenant, statement_descriptor=value)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "parameter_invalid" and error["param"] == "statement_descriptor"
    assert explained in error["message"], error["message"]
    assert settings(client, tenant) == before


@pytest.mark.parametrize(
    ("display_name", "derived"),
    [
        ("Mug Makers", "MUG MAKERS"),
        ("Kaffeerösterei Müller & Söhne", "KAFFEEROSTEREI MULLER"),  # folded, cut to 22, no trailing space
        ('Straße <Café> "Œuvre"', "STRASSE CAFE OEUVRE"),
        ("東京コーヒー", "KASSA* {SLUG}"),  # nothing Latin left: Kassa's prefix and the slug
        ("Bö", "KASSA* {SLUG}"),  # too short
        ("1234567", "KASSA* {SLUG}"),  # no letter
    ],
)
def test_without_one_the_descriptor_is_derived_from_the_display_name(
    client: FlaskClient, make: Factories, display_name: str, derived: str
) -> None:
    tenant = make.tenants()
    response = patch(client, tenant, display_name=display_name)
    assert response.status_code == 200, response.json
    assert response.json["statement_descriptor"] is None
    expected = derived.format(SLUG=tenant.tenant.slug.upper())
    assert response.json["effective_statement_descriptor"] == expected


def test_null_goes_back_to_the_derived_descriptor(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(name="Mug Makers")
    assert patch(client, tenant, statement_descriptor="MUGS ONLINE").json[
        "effective_statement_descriptor"
    ] == ("MUGS ONLINE")
    response = patch(client, tenant, statement_descriptor=None)
    assert response.status_code == 200
    assert response.json["statement_descriptor"] is None
    assert response.json["effective_statement_descriptor"] == "MUG MAKERS"
