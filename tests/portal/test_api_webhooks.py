"""The webhook endpoints API and the events API's catch-up cursor."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from standardwebhooks import Webhook

from core.context import Actor
from core.jobs.runtime import Runtime
from tenants.api_keys import create_restricted
from tenants.models import KeyMode
from tenants.permissions import Permission
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.portal.test_api_modes import live_key
from tests.webhooks_helpers import drain, fan_out, receiver


@pytest.fixture
def opened(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    return clean


def test_create_shows_the_secret_once_and_the_endpoint_is_listed(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    made = client.post(
        "/api/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["payment.succeeded", "refund.succeeded"]},
        headers=auth(key),
    )
    assert made.status_code == 201, made.json
    body = made.json
    assert body["id"].startswith("we_") and body["secret"].startswith("whsec_")
    assert body["status"] == "active" and body["enabled"] is True and body["livemode"] is False
    got = client.get(f"/api/v1/webhook_endpoints/{body['id']}", headers=auth(key)).json
    assert "secret" not in got and got["events"] == ["payment.succeeded", "refund.succeeded"]
    listed = client.get("/api/v1/webhook_endpoints", headers=auth(key)).json
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert all("secret" not in e for e in listed["data"])


def test_an_idempotent_replay_of_a_create_does_not_show_the_secret_again(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    tenant = make.tenants()
    headers = {**auth(tenant.keys.secret_key), "Idempotency-Key": "wh-1"}
    first = client.post("/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}, headers=headers)
    again = client.post("/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}, headers=headers)
    assert first.json["secret"].startswith("whsec_")
    assert again.json["id"] == first.json["id"] and again.json["secret"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://2130706433/x",
    ],
)
def test_private_urls_are_refused_with_a_clear_error(client: FlaskClient, make: Factories, url: str) -> None:
    tenant = make.tenants()
    answer = client.post("/api/v1/webhook_endpoints", json={"url": url}, headers=auth(tenant.keys.secret_key))
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "url_not_allowed" and answer.json["error"]["param"] == "url"


def test_bad_input_is_a_4xx(client: FlaskClient, make: Factories, opened: Runtime) -> None:
    key = make.tenants().keys.secret_key
    for body in (
        {},
        {"url": "http://127.0.0.1:9/", "events": ["payment.exploded"]},
        {"url": "http://127.0.0.1:9/", "events": []},
        {"url": "http://127.0.0.1:9/", "events": ["*", "payment.succeeded"]},
        {"url": "http://127.0.0.1:9/", "payload": "huge"},
        {"url": 5},
        {"url": "not a url"},
    ):
        answer = client.post("/api/v1/webhook_endpoints", json=body, headers=auth(key))
        assert answer.status_code == 400, (body, answer.json)


def test_update_disable_and_delete(client: FlaskClient, make: Factories, opened: Runtime) -> None:
    key = make.tenants().keys.secret_key
    made = client.post(
        "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}, headers=auth(key)
    ).json
    path = f"/api/v1/webhook_endpoints/{made['id']}"
    patched = client.patch(path, json={"enabled": False, "events": ["payment.failed"]}, headers=auth(key))
    assert patched.status_code == 200 and patched.json["status"] == "disabled"
    assert patched.json["events"] == ["payment.failed"]
    enabled = client.patch(path, json={"enabled": True}, headers=auth(key)).json
    assert enabled["status"] == "active"
    deleted = client.delete(path, headers=auth(key))
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert client.get(path, headers=auth(key)).status_code == 404
    assert client.get("/api/v1/webhook_endpoints", headers=auth(key)).json["data"] == []


def test_another_tenants_and_another_modes_endpoint_is_not_found(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    mine, theirs = make.tenants(), make.tenants()
    made = client.post(
        "/api/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/"}, headers=auth(theirs.keys.secret_key)
    ).json
    path = f"/api/v1/webhook_endpoints/{made['id']}"
    assert client.get(path, headers=auth(mine.keys.secret_key)).status_code == 404
    assert client.delete(path, headers=auth(mine.keys.secret_key)).status_code == 404
    live = live_key(opened, theirs)
    assert client.get(path, headers=auth(live)).status_code == 404
    assert client.get("/api/v1/webhook_endpoints", headers=auth(live)).json["data"] == []


def test_a_key_without_webhooks_manage_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        _, key = create_restricted(
            uow.session,
            clean.acting(Actor.system("test")),
            tenant_id=tenant.id,
            mode=KeyMode.TEST,
            permissions=frozenset({Permission.PAYMENTS_READ}),
        )
    answer = client.get("/api/v1/webhook_endpoints", headers=auth(key))
    assert answer.status_code == 403


def test_roll_secret_test_event_deliveries_and_resend(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    key = make.tenants().keys.secret_key
    with receiver() as hook:
        made = client.post("/api/v1/webhook_endpoints", json={"url": hook.url}, headers=auth(key)).json
        path = f"/api/v1/webhook_endpoints/{made['id']}"
        rolled = client.post(f"{path}/roll_secret", json={"overlap_seconds": 3600}, headers=auth(key))
        assert rolled.status_code == 201 and rolled.json["secret"] != made["secret"]
        assert rolled.json["secret_rotation_ends_at"] is not None
        sent = client.post(f"{path}/test", headers=auth(key))
        assert sent.status_code == 201 and sent.json["type"] == "webhook_endpoint.test"
        drain(opened)
        [got] = hook.received
        Webhook(made["secret"]).verify(got.body, got.headers)
        Webhook(rolled.json["secret"]).verify(got.body, got.headers)
        log = client.get(f"{path}/deliveries", headers=auth(key)).json
        [delivery] = log["data"]
        assert delivery["status"] == "succeeded" and delivery["attempt_log"][0]["status"] == 200
        resent = client.post(f"/api/v1/webhook_deliveries/{delivery['id']}/resend", headers=auth(key))
        assert resent.status_code == 200 and resent.json["status"] == "pending"
        drain(opened)
        assert len(hook.received) == 2
        replayed = client.post(f"{path}/replay", json={"since": 0}, headers=auth(key))
        assert replayed.status_code == 200 and replayed.json["replayed"] == 0
        missing = client.post("/api/v1/webhook_deliveries/whd_nope/resend", headers=auth(key))
        assert missing.status_code == 404


def test_events_since_a_cursor_come_oldest_first_and_filter_by_type(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    make.payments(tenant=tenant)
    make.payments(tenant=tenant)
    newest_first = client.get("/api/v1/events?limit=100", headers=auth(key)).json["data"]
    assert len(newest_first) >= 4
    oldest = newest_first[-1]["id"]
    caught_up = client.get(f"/api/v1/events?since={oldest}&limit=100", headers=auth(key)).json
    assert [e["id"] for e in caught_up["data"]] == [e["id"] for e in reversed(newest_first[:-1])]
    page = client.get(f"/api/v1/events?since={oldest}&limit=1", headers=auth(key)).json
    assert page["has_more"] is True and page["data"][0]["id"] == caught_up["data"][0]["id"]
    typed = client.get("/api/v1/events?type=payment.succeeded", headers=auth(key)).json["data"]
    assert typed and all(e["type"] == "payment.succeeded" for e in typed)
    both = client.get(f"/api/v1/events?since={oldest}&starting_after={oldest}", headers=auth(key))
    assert both.status_code == 400
    live = client.get("/api/v1/events", headers=auth(live_key(opened, tenant))).json["data"]
    assert live == [], "test events never show to a live key"


def test_a_live_endpoint_receives_no_test_event(
    client: FlaskClient, make: Factories, opened: Runtime
) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        live = live_key(opened, tenant)
        url = hook.url.replace("http://", "https://")
        assert (
            client.post("/api/v1/webhook_endpoints", json={"url": url}, headers=auth(live)).status_code == 201
        )
        payment = make.payments(tenant=tenant)
        events = client.get(f"/api/v1/events?object={payment.id}", headers=auth(tenant.keys.secret_key)).json[
            "data"
        ]
        for event in events:
            assert fan_out(opened, tenant, event["id"]) == 0
    assert hook.received == []
