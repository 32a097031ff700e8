"""/api/v1/locality_rule_versions: drafts and scheduled changes are writable, versions readable, history
restorable; the rule routes write a version in force at once; the hosted page reads the version in force
at the request's clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from core.clock import FrozenClock
from tests.checkout.test_locality_on_page import tabs
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session, page_text

VERSIONS = "/api/v1/locality_rule_versions"
NO_WALLET = [{"country": "DE", "methods": ["card", "bank"]}]


def call(client: FlaskClient, tenant: MadeTenant, method: str, url: str, body: Any = None) -> Any:
    return client.open(url, method=method, json=body, headers=auth(tenant.keys.secret_key))


def offered(client: FlaskClient, tenant: MadeTenant) -> list[str]:
    cs = create_session(client, tenant, amount=5_000, country="DE")
    return tabs(page_text(client.get(f"/pay/{cs['id']}")))


def test_a_draft_governs_nothing_until_published(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    draft = call(client, tenant, "POST", VERSIONS, {"rules": NO_WALLET, "note": "no wallet"})
    assert draft.status_code == 201, draft.json
    body = draft.json
    assert body["status"] == "draft" and body["effective_at"] is None and body["number"] == 1
    assert body["rules"][0]["country"] == "DE" and body["rules"][0]["id"].startswith("lrule_")
    assert offered(client, tenant) == ["Card", "Wallet", "Online banking"]
    changed = call(
        client,
        tenant,
        "PATCH",
        f"{VERSIONS}/{body['id']}",
        {"rules": [{"country": "DE", "methods": ["card"]}]},
    )
    assert changed.status_code == 200 and changed.json["rules"][0]["methods"] == ["card"]
    assert changed.json["rules"][0]["id"] == body["rules"][0]["id"]  # the country's rule keeps its id
    published = call(client, tenant, "POST", f"{VERSIONS}/{body['id']}/publish", {})
    assert published.status_code == 200 and published.json["status"] == "in_force"
    assert offered(client, tenant) == ["Card"]
    listed = call(client, tenant, "GET", "/api/v1/locality_rules").json["data"]
    assert [(r["id"], r["methods"]) for r in listed] == [(body["rules"][0]["id"], ["card"])]
    # History is not changed, not discarded: restore it instead.
    assert call(client, tenant, "PATCH", f"{VERSIONS}/{body['id']}", {"note": "x"}).status_code == 409
    assert call(client, tenant, "DELETE", f"{VERSIONS}/{body['id']}").status_code == 409


def test_a_scheduled_change_applies_from_its_moment(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    at = int((clock.now() + timedelta(days=1)).timestamp())
    made = call(client, tenant, "POST", VERSIONS, {"rules": NO_WALLET, "effective_at": at})
    assert made.status_code == 201 and made.json["status"] == "scheduled"
    assert offered(client, tenant) == ["Card", "Wallet", "Online banking"]
    clock.advance(days=1)
    assert offered(client, tenant) == ["Card", "Online banking"]
    assert call(client, tenant, "GET", f"{VERSIONS}/{made.json['id']}").json["status"] == "in_force"
    # The rule routes catch up with it, so what they show (and change) is in force.
    [rule] = call(client, tenant, "GET", "/api/v1/locality_rules").json["data"]
    assert rule["country"] == "DE" and rule["methods"] == ["card", "bank"]
    changed = call(client, tenant, "PATCH", f"/api/v1/locality_rules/{rule['id']}", {"methods": ["bank"]})
    assert changed.status_code == 200
    assert offered(client, tenant) == ["Online banking"]
    numbers = [v["number"] for v in call(client, tenant, "GET", VERSIONS).json["data"]]
    assert numbers == [2, 1]  # the change through the rule route is version 2


def test_a_moment_in_the_past_is_refused(client: FlaskClient, make: Factories, clock: FrozenClock) -> None:
    tenant = make.tenants()
    past = int((clock.now() - timedelta(minutes=1)).timestamp())
    refused = call(client, tenant, "POST", VERSIONS, {"rules": NO_WALLET, "effective_at": past})
    assert refused.status_code == 400 and refused.json["error"]["param"] == "effective_at"


def test_a_scheduled_change_can_be_canceled_and_a_version_restored(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    first = call(client, tenant, "POST", "/api/v1/locality_rules", {"country": "DE", "methods": ["card"]})
    assert first.status_code == 201
    later = int((clock.now() + timedelta(hours=1)).timestamp())
    scheduled = call(client, tenant, "POST", VERSIONS, {"rules": [], "effective_at": later}).json
    deleted = call(client, tenant, "DELETE", f"{VERSIONS}/{scheduled['id']}")
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    clock.advance(hours=2)
    assert offered(client, tenant) == ["Card"]  # the canceled change never applied
    call(client, tenant, "DELETE", f"/api/v1/locality_rules/{first.json['id']}")
    assert offered(client, tenant) == ["Card", "Wallet", "Online banking"]
    history = call(client, tenant, "GET", VERSIONS).json["data"]
    assert [(v["number"], v["status"]) for v in history] == [(2, "in_force"), (1, "superseded")]
    restored = call(client, tenant, "POST", f"{VERSIONS}/{history[1]['id']}/restore", {})
    assert restored.status_code == 201, restored.json
    assert restored.json["restored_from"] == history[1]["id"] and restored.json["status"] == "in_force"
    assert offered(client, tenant) == ["Card"]
    assert [r["id"] for r in call(client, tenant, "GET", "/api/v1/locality_rules").json["data"]] == [
        first.json["id"]
    ]


def test_bad_versions_are_400s_naming_the_field(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    for body, param in (
        ({"rules": [{"country": "DE"}, {"country": "de"}]}, "rules"),
        ({"rules": [{"country": "XX"}]}, "country"),
        ({"rules": [{"country": "US", "surcharge_bps": 400}]}, "rules"),
        (
            {
                "rules": [
                    {"country": "DE", "method_limits": [{"method": "cash", "currency": "EUR", "max": 1}]}
                ]
            },
            "rules",
        ),
        (
            {"rules": [{"country": "DE", "method_limits": [{"method": "wallet", "currency": "EUR"}]}]},
            "method_limits",
        ),
        ({"note": "x" * 201}, "note"),
    ):
        response = call(client, tenant, "POST", VERSIONS, body)
        assert response.status_code == 400, (body, response.json)
        assert response.json["error"]["param"] == param, (body, response.json)
    assert call(client, tenant, "GET", VERSIONS).json["data"] == []


def test_what_is_in_force_at_an_amount_leaves_out_the_methods_its_limits_exclude(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    limit = [{"method": "wallet", "currency": "EUR", "max": 10_000}]
    call(client, tenant, "POST", "/api/v1/locality_rules", {"country": "DE", "method_limits": limit})
    url = "/api/v1/checkout/locality_rules?country=DE&currency=EUR"
    assert call(client, tenant, "GET", url).json["methods"] == ["card", "wallet", "bank"]
    assert call(client, tenant, "GET", url + "&amount=12000").json["methods"] == ["card", "bank"]
    assert call(client, tenant, "GET", url + "&amount=10000").json["methods"] == ["card", "wallet", "bank"]
