"""Payment links: the API object, and `/l/<slug>` opening a fresh checkout session on every visit."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from core.links import service as links
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def create_link(client: FlaskClient, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    body = {"amount": 1500, "currency": "EUR", "description": "Yoga class", **fields}
    response = client.post("/api/v1/payment_links", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 201, response.json
    return dict(response.json)


def slug_of(link: dict[str, Any]) -> str:
    return str(link["url"]).rsplit("/l/", 1)[1]


def sessions_of(client: FlaskClient, tenant: MadeTenant) -> list[dict[str, Any]]:
    listed = client.get("/api/v1/checkout/sessions?limit=100", headers=auth(tenant.keys.secret_key))
    return list(listed.json["data"])


# --- API ------------------------------------------------------------------------------------------------


def test_create_answers_the_contract_shape(client: FlaskClient, make: Factories, rt: Runtime) -> None:
    link = create_link(client, make.tenants())
    assert link["id"].startswith("plink_")
    assert set(link) >= {"id", "url", "amount", "currency", "description", "active", "created_at", "livemode"}
    assert link["url"] == f"{rt.settings.base_url}/l/{slug_of(link)}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", slug_of(link))  # 128 random bits: the link's only key
    assert (link["amount"], link["currency"], link["description"]) == (1500, "EUR", "Yoga class")
    assert link["active"] is True and link["livemode"] is False


def test_amount_is_optional_and_currency_is_validated(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    open_amount = create_link(client, tenant, amount=None)
    assert open_amount["amount"] is None
    missing = {"currency": "EUR"}
    response = client.post("/api/v1/payment_links", json=missing, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 201 and response.json["amount"] is None
    for bad, param in (
        ({"amount": 100}, "currency"),
        ({"amount": 100, "currency": "XXY"}, "currency"),
        ({"amount": 0, "currency": "EUR"}, "amount"),
        ({"amount": 10.5, "currency": "EUR"}, "amount"),
        ({"currency": "EUR", "slug": "mine"}, "slug"),
    ):
        response = client.post("/api/v1/payment_links", json=bad, headers=auth(tenant.keys.secret_key))
        assert response.status_code == 400, bad
        assert response.json["error"]["param"] == param


def test_list_and_get(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    first = create_link(client, tenant)
    second = create_link(client, tenant, active=False)
    listed = client.get("/api/v1/payment_links", headers=auth(tenant.keys.secret_key))
    assert listed.status_code == 200
    assert [link["id"] for link in listed.json["data"]] == [second["id"], first["id"]]
    active = client.get("/api/v1/payment_links?active=true", headers=auth(tenant.keys.secret_key))
    assert [link["id"] for link in active.json["data"]] == [first["id"]]
    got = client.get(f"/api/v1/payment_links/{first['id']}", headers=auth(tenant.keys.secret_key))
    assert got.status_code == 200 and got.json == first


def test_another_tenants_link_is_not_found(client: FlaskClient, make: Factories) -> None:
    mine, theirs = make.tenants(), make.tenants()
    link = create_link(client, theirs)
    got = client.get(f"/api/v1/payment_links/{link['id']}", headers=auth(mine.keys.secret_key))
    assert got.status_code == 404 and got.json["error"]["code"] == "resource_missing"
    patched = client.patch(
        f"/api/v1/payment_links/{link['id']}", json={"active": False}, headers=auth(mine.keys.secret_key)
    )
    assert patched.status_code == 404
    assert client.get("/api/v1/payment_links", headers=auth(mine.keys.secret_key)).json["data"] == []


def test_deactivating_a_link_turns_its_page_off(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    link = create_link(client, tenant)
    patched = client.patch(
        f"/api/v1/payment_links/{link['id']}", json={"active": False}, headers=auth(tenant.keys.secret_key)
    )
    assert patched.status_code == 200 and patched.json["active"] is False
    page = client.get(f"/l/{slug_of(link)}")
    assert page.status_code == 404
    assert "This payment link is not active" in page.get_data(as_text=True)
    refused = client.patch(
        f"/api/v1/payment_links/{link['id']}", json={"amount": 5}, headers=auth(tenant.keys.secret_key)
    )
    assert refused.status_code == 400 and refused.json["error"]["param"] == "amount"


# --- /l/<slug> ------------------------------------------------------------------------------------------


def test_each_visit_opens_a_fresh_session(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    link = create_link(client, tenant)
    targets = []
    for _ in range(2):
        response = client.get(f"/l/{slug_of(link)}")
        assert response.status_code == 303
        assert response.headers["Cache-Control"] == "no-store"
        targets.append(response.headers["Location"])
    assert len(set(targets)) == 2 and all(re.fullmatch(r"/pay/cs_[0-9a-z]{36}", t) for t in targets)
    made = sessions_of(client, tenant)
    assert sorted(f"/pay/{cs['id']}" for cs in made) == sorted(targets)
    for cs in made:
        assert (cs["amount"], cs["currency"], cs["description"]) == (1500, "EUR", "Yoga class")
        assert cs["metadata"] == {"payment_link": link["id"]}
    page = client.get(targets[0])
    assert page.status_code == 200 and "Yoga class" in page.get_data(as_text=True)


def test_an_inactive_or_unknown_link_is_a_clear_404(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    inactive = create_link(client, tenant, active=False)
    for url in (f"/l/{slug_of(inactive)}", "/l/nosuchlinkslug123", "/l/x", f"/l/{slug_of(inactive)}/qr.svg"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "This payment link is not active" in response.get_data(as_text=True)
    assert sessions_of(client, tenant) == []


def _amount_form(client: FlaskClient, url: str, **headers: str) -> str:
    page = client.get(url, headers=headers)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'name="custom_amount"' in text
    match = CSRF.search(text)
    assert match is not None
    return match.group(1)


def test_a_shopper_chosen_amount_is_asked_then_opens_the_session(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    link = create_link(client, tenant, amount=None, description="Donation")
    url = f"/l/{slug_of(link)}"
    token = _amount_form(client, url)
    assert sessions_of(client, tenant) == []  # asking the amount creates nothing yet
    response = client.post(url, data={"csrf_token": token, "custom_amount": "12.50"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/pay/cs_")
    made = sessions_of(client, tenant)
    assert [(cs["amount"], cs["currency"], cs["description"]) for cs in made] == [(1250, "EUR", "Donation")]


def test_the_amount_is_read_in_the_shoppers_language(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    url = f"/l/{slug_of(create_link(client, tenant, amount=None))}"
    token = _amount_form(client, url, **{"Accept-Language": "de"})
    response = client.post(
        url, data={"csrf_token": token, "custom_amount": "1.234,50"}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 303
    assert [cs["amount"] for cs in sessions_of(client, tenant)] == [123450]


@pytest.mark.parametrize("typed", ["", "0", "0.00", "12.505", "-5", "1e3", "ten", "12.5.5", "9" * 31])
def test_a_bad_amount_is_a_form_error(client: FlaskClient, make: Factories, typed: str) -> None:
    tenant = make.tenants()
    url = f"/l/{slug_of(create_link(client, tenant, amount=None))}"
    token = _amount_form(client, url)
    response = client.post(url, data={"csrf_token": token, "custom_amount": typed})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in text and 'class="error"' in text
    assert sessions_of(client, tenant) == []


def test_the_amount_form_needs_its_csrf_token(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    url = f"/l/{slug_of(create_link(client, tenant, amount=None))}"
    forged = client.post(url, data={"custom_amount": "10"})
    other_link = f"/l/{slug_of(create_link(client, tenant, amount=None))}"
    token_of_other = _amount_form(client, other_link)
    replayed = client.post(url, data={"csrf_token": token_of_other, "custom_amount": "10"})
    for response in (forged, replayed):
        assert response.status_code == 200
        assert "not valid any more" in response.get_data(as_text=True)
    assert sessions_of(client, tenant) == []


def test_qr_code_is_an_svg_of_the_link(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    link = create_link(client, tenant)
    response = client.get(f"/l/{slug_of(link)}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(response.get_data())  # noqa: S314  (our own response)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert b"<script" not in response.get_data()
    assert sessions_of(client, tenant) == []  # the QR code opens nothing by itself


def test_parse_amount() -> None:
    assert links.parse_amount("12.50", "EUR", locale="en") == 1250
    assert links.parse_amount("12,50", "EUR", locale="de") == 1250
    assert links.parse_amount("12.50", "EUR", locale="de") == 1250  # English form accepted too
    assert links.parse_amount("1 000", "EUR", locale="fr") == 100000
    assert links.parse_amount("1500", "JPY", locale="en") == 1500
    with pytest.raises(Exception, match="decimal places"):
        links.parse_amount("15.5", "JPY", locale="en")
