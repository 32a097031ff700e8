from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.fixtures import Factories


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response, status: int, code: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert set(error) == {"type", "code", "message", "param"} and error["code"] == code and error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer sk_test_doesnotexist", "Bearer " + "x" * 500],
)
def test_requests_without_a_valid_secret_key_are_refused(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    error = assert_error(client.get("/api/v1/checkout/settings", headers=headers), 401, "invalid_api_key")
    assert error["type"] == "authentication_error"


def test_a_publishable_key_is_refused_with_advice(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    error = assert_error(
        client.get("/api/v1/checkout/settings", headers=auth(tenant.keys.publishable_key)),
        401,
        "invalid_api_key",
    )
    assert "secret key" in str(error["message"])


def test_checkout_settings_are_read_and_changed_per_tenant(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    a, b = make.tenants(name="Alpha"), make.tenants(name="Beta")
    response = client.get("/api/v1/checkout/settings", headers=auth(a.keys.secret_key))
    assert response.status_code == 200
    assert response.json == {
        "object": "checkout.settings",
        "livemode": False,
        "display_name": "Alpha",
        "brand_color": None,
        "logo": None,
        "statement_descriptor": None,
        "effective_statement_descriptor": "ALPHA",
        "allowed_origins": [],
        "payment_methods": ["card", "wallet", "bank"],
        "receipt_emails": True,
    }
    response = client.patch(
        "/api/v1/checkout/settings",
        headers=auth(a.keys.secret_key),
        json={
            "allowed_origins": ["https://shop.example", "http://localhost:3000/"],
            "brand_color": "#1A73E8",
            "payment_methods": ["wallet", "card"],
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["allowed_origins"] == ["http://localhost:3000", "https://shop.example"]
    assert response.json["brand_color"] == "#1a73e8"
    assert response.json["payment_methods"] == ["card", "wallet"]
    # Tenant B is untouched.
    assert (
        client.get("/api/v1/checkout/settings", headers=auth(b.keys.secret_key)).json["allowed_origins"] == []
    )
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        last = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None and last.action == "checkout.settings.updated" and last.actor_type == "api_key"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"allowed_origins": ["http://shop.example"]}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.example/path"]}, "allowed_origins"),
        ({"allowed_origins": "https://shop.example"}, "allowed_origins"),
        ({"allowed_origins": [42]}, "allowed_origins"),
        ({"allowed_origins": ["https://*.example"]}, "allowed_origins"),
        ({"brand_color": "blue"}, "brand_color"),
        ({"payment_methods": []}, "payment_methods"),
        ({"payment_methods": ["crypto"]}, "payment_methods"),
        ({"display_name": ""}, "display_name"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_get_a_4xx_naming_the_field_and_change_nothing(
    client: FlaskClient, make: Factories, body: dict[str, object], param: str
) -> None:
    tenant = make.tenants()
    before = client.get("/api/v1/checkout/settings", headers=auth(tenant.keys.secret_key)).json
    error = assert_error(
        client.patch("/api/v1/checkout/settings", headers=auth(tenant.keys.secret_key), json=body),
        400,
        "parameter_invalid",
    )
    assert error["param"] == param
    assert client.get("/api/v1/checkout/settings", headers=auth(tenant.keys.secret_key)).json == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("a=b", "application/x-www-form-urlencoded"),
        # A NUL is the API's to refuse too (the app's form check leaves the API alone: core/web/request.py).
        ("a=b%00c", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    client: FlaskClient, make: Factories, data: str, content_type: str
) -> None:
    tenant = make.tenants()
    response = client.patch(
        "/api/v1/checkout/settings",
        headers=auth(tenant.keys.secret_key),
        data=data,
        content_type=content_type,
    )
    assert_error(response, 400, "parameter_invalid")


def test_unknown_routes_and_methods_answer_json_errors(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    assert_error(
        client.get("/api/v1/nothing-here", headers=auth(tenant.keys.secret_key)), 404, "resource_missing"
    )
    assert_error(
        client.delete("/api/v1/checkout/settings", headers=auth(tenant.keys.secret_key)),
        405,
        "method_not_allowed",
    )


def test_the_openapi_document_describes_every_api_route(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    rules = {
        (rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}"), method.lower())
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/v1") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert rules == documented
