"""Rolling and revoking API keys through the API: the overlap, 401 after it, and an audit row per use."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent, Outcome
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.portal.test_api_modes import live_key

BALANCE = "/api/v1/balance"


@pytest.fixture
def clock(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(clean.clock.now())
    monkeypatch.setattr(clean, "clock", frozen)
    return frozen


def key_id_of(client: FlaskClient, key: str, *, kind: str = "secret") -> str:
    listed = client.get("/api/v1/api_keys", headers=auth(key))
    assert listed.status_code == 200, listed.json
    (found,) = [k for k in listed.json["data"] if k["kind"] == kind and k["status"] == "active"]
    if kind == "secret":
        assert key.endswith(found["display"][-4:])
    return str(found["id"])


def refusals(rt: Runtime, tenant: MadeTenant) -> list[dict[str, Any]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        events = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == actions.API_KEY_REFUSED).order_by(AuditEvent.seq)
        ).all()
        assert all(e.outcome is Outcome.DENIED for e in events)
        return [{"key": e.actor_id, **(audit.read_details(uow.session, e, kms=rt.kms) or {})} for e in events]


def test_a_rolled_key_works_for_the_overlap_then_is_refused_and_audited(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    old = tenant.keys.secret_key
    old_id = key_id_of(client, old)
    rolled = client.post(f"/api/v1/api_keys/{old_id}/roll", json={}, headers=auth(old))
    assert rolled.status_code == 201, rolled.json
    new = rolled.json["secret"]
    assert new.startswith("sk_test_") and new != old
    assert rolled.json["status"] == "active" and rolled.json["replaced"]["status"] == "expiring"
    assert rolled.json["replaced"]["expires_at"] == int(clock.now().timestamp()) + 24 * 3600
    assert client.get(BALANCE, headers=auth(new)).status_code == 200

    clock.advance(hours=23, minutes=59)
    assert client.get(BALANCE, headers=auth(old)).status_code == 200  # the default overlap: 24 hours
    clock.advance(minutes=1)
    for _ in range(2):
        refused = client.get(BALANCE, headers=auth(old))
        assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_api_key"
        assert "rolled" in refused.json["error"]["message"]
    assert client.get(BALANCE, headers=auth(new)).status_code == 200
    assert refusals(clean, tenant) == [
        {"key": old_id, "reason": "expired", "kind": "secret", "mode": "test"},
        {"key": old_id, "reason": "expired", "kind": "secret", "mode": "test"},
    ]
    # A POST with an expired key changes nothing either.
    made = client.post("/api/v1/locality_rules", json={"country": "*"}, headers=auth(old))
    assert made.status_code == 401
    assert client.get("/api/v1/locality_rules", headers=auth(new)).json["data"] == []


def test_a_chosen_overlap_and_overlap_zero(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    first = tenant.keys.secret_key
    rolled = client.post(
        f"/api/v1/api_keys/{key_id_of(client, first)}/roll",
        json={"overlap_seconds": 600},
        headers=auth(first),
    )
    second = rolled.json["secret"]
    clock.advance(seconds=599)
    assert client.get(BALANCE, headers=auth(first)).status_code == 200
    clock.advance(seconds=1)
    assert client.get(BALANCE, headers=auth(first)).status_code == 401

    at_once = client.post(
        f"/api/v1/api_keys/{key_id_of(client, second)}/roll",
        json={"overlap_seconds": 0},
        headers=auth(second),
    )
    assert at_once.status_code == 201 and at_once.json["replaced"]["status"] == "revoked"
    refused = client.get(BALANCE, headers=auth(second))
    assert refused.status_code == 401 and "revoked" in refused.json["error"]["message"]
    assert client.get(BALANCE, headers=auth(at_once.json["secret"])).status_code == 200
    assert [r["reason"] for r in refusals(clean, tenant)] == ["expired", "revoked"]


def test_revoke_is_immediate_and_every_later_use_is_audited(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    key_id = key_id_of(client, key)
    revoked = client.post(f"/api/v1/api_keys/{key_id}/revoke", headers=auth(key))
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    for _ in range(3):
        assert client.get(BALANCE, headers=auth(key)).status_code == 401
    assert [r["key"] for r in refusals(clean, tenant)] == [key_id] * 3
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert audit.verify(uow.session, tenant_id=tenant.id, kms=clean.kms) == []  # refusals keep the chain


def test_a_test_key_cannot_roll_or_revoke_a_live_key(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    live = live_key(clean, tenant)
    live_id = key_id_of(client, live)
    test_key = tenant.keys.secret_key
    assert live_id not in {
        k["id"] for k in client.get("/api/v1/api_keys", headers=auth(test_key)).json["data"]
    }
    for action in ("roll", "revoke"):
        answer = client.post(f"/api/v1/api_keys/{live_id}/{action}", json={}, headers=auth(test_key))
        assert answer.status_code == 404 and answer.json["error"]["code"] == "resource_missing"
    other = make.tenants()
    answer = client.post(
        f"/api/v1/api_keys/{key_id_of(client, test_key)}/revoke", headers=auth(other.keys.secret_key)
    )
    assert answer.status_code == 404
    assert client.get(BALANCE, headers=auth(live)).status_code == 200
    assert client.get(BALANCE, headers=auth(test_key)).status_code == 200


def test_a_replayed_roll_never_shows_or_stores_the_new_secret(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    path = f"/api/v1/api_keys/{key_id_of(client, key)}/roll"
    headers = {**auth(key), "Idempotency-Key": "roll-1"}
    first = client.post(path, json={"overlap_seconds": 60}, headers=headers)
    assert first.status_code == 201 and first.json["secret"].startswith("sk_test_")
    replay = client.post(path, json={"overlap_seconds": 60}, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert (
        replay.status_code == 201 and replay.json["secret"] is None and replay.json["id"] == first.json["id"]
    )
    with clean.db.owner_engine.connect() as conn:
        stored = " ".join(
            str(row[0]) for row in conn.execute(text("SELECT response_body FROM idempotency_keys"))
        )
        keys = " ".join(str(row[0]) for row in conn.execute(text("SELECT key_hash FROM api_keys")))
    assert first.json["secret"] not in stored and first.json["secret"] not in keys


@pytest.mark.parametrize("overlap", [-1, 604801, "24h", 1.5, True])
def test_a_bad_overlap_is_a_400_and_changes_nothing(
    client: FlaskClient, make: Factories, clean: Runtime, overlap: object
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    answer = client.post(
        f"/api/v1/api_keys/{key_id_of(client, key)}/roll",
        json={"overlap_seconds": overlap},
        headers=auth(key),
    )
    assert answer.status_code == 400 and answer.json["error"]["param"] == "overlap_seconds"
    assert len(client.get("/api/v1/api_keys", headers=auth(key)).json["data"]) == 2


def test_the_wrong_key_message_names_what_exists(client: FlaskClient, clean: Runtime) -> None:
    answer = client.get(BALANCE, headers=auth("sk_test_" + "x" * 32))
    assert answer.status_code == 401
    error = answer.json["error"]
    assert set(error) == {"type", "code", "message", "param"} and error["code"] == "invalid_api_key"
    assert "kassa tenants create" in error["message"] and "kassa keys roll" in error["message"]
    assert "portal" not in error["message"].lower()


def test_a_rolled_publishable_key_leaves_the_portal_and_the_widget(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    from tests.payments_helpers import create_session
    from tests.portal.test_sign_in import sign_in

    tenant = make.tenants()
    old = tenant.keys.publishable_key
    pk_id = key_id_of(client, tenant.keys.secret_key, kind="publishable")
    rolled = client.post(
        f"/api/v1/api_keys/{pk_id}/roll", json={"overlap_seconds": 60}, headers=auth(tenant.keys.secret_key)
    )
    new = rolled.json["secret"]
    assert new.startswith("pk_test_") and rolled.json["kind"] == "publishable"
    session_id = create_session(client, tenant)["id"]
    assert client.get(f"/embed/{session_id}?key={old}").status_code == 200  # within the overlap
    sign_in(client, tenant)  # before time moves: the authentication code is of the real time
    clock.advance(seconds=60)
    assert client.get(f"/embed/{session_id}?key={old}").status_code == 404
    assert client.get(f"/embed/{session_id}?key={new}").status_code == 200
    assert refusals(clean, tenant) == [
        {"key": pk_id, "reason": "expired", "kind": "publishable", "mode": "test"}
    ]
    home = client.get("/portal/").get_data(as_text=True)
    assert new in home and old not in home
