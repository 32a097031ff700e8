"""What processes keep of a tenant (core/tenant_cache.py) is never stale: a change through the API or the
CLI shows on the next page or call, in this process and in another one sharing the database, and a hit
sends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from core.jobs import runtime as runtime_module
from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.keys.models import DataKey, KeyPurpose
from core.vault.models import VaultCard
from tests.checkout.test_locality_on_page import rule, tabs
from tests.factories import MadeTenant
from tests.fixtures import CheckedClient, Factories
from tests.payments_helpers import auth, create_session, page_text, submit_pay_form
from tests.portal.test_api_keys import key_id_of
from tests.webhooks_helpers import create_endpoint
from wsgi import create_app

BALANCE = "/api/v1/balance"


@pytest.fixture
def other(clean: Runtime, translations: Any) -> Iterator[FlaskClient]:
    """A second app with its own engines and cache over the same database and Redis: another process (the
    cache is PostgreSQL's: a test that uses this one is marked `postgres`)."""
    second = runtime_module.build(clean.settings)
    application: Flask = create_app(clean.settings, runtime=second)
    application.test_client_class = CheckedClient
    runtime_module.install(clean)
    try:
        yield application.test_client()
    finally:
        second.db.dispose()
        runtime_module.install(clean)


def statements(rt: Runtime) -> list[str]:
    sent: list[str] = []
    event.listen(rt.db.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def version_of(rt: Runtime, tenant: MadeTenant) -> int:
    with rt.db.owner_engine.begin() as conn:
        return int(
            conn.execute(text("SELECT cache_version FROM tenants WHERE id = :t"), {"t": tenant.id}).one()[0]
        )


@pytest.mark.postgres  # the cache is PostgreSQL's: SQLite reads again on every call
def test_a_rule_change_shows_on_the_next_page_here_and_in_another_process(
    client: FlaskClient, other: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    page = f"/pay/{cs['id']}"
    for app_client in (client, other):  # both processes keep the rules in force (no rules: the defaults)
        assert tabs(page_text(app_client.get(page))) == ["Card", "Wallet", "Online banking"]
    before = version_of(clean, tenant)
    made = rule(client, tenant, country="DE", methods=["bank", "card"])
    assert version_of(clean, tenant) > before  # the trigger moved it in the change's own transaction
    for app_client in (client, other):
        assert tabs(page_text(app_client.get(page))) == ["Card", "Online banking"]
    changed = client.patch(
        f"/api/v1/locality_rules/{made['id']}",
        json={"methods": ["card"]},
        headers=auth(tenant.keys.secret_key),
    )
    assert changed.status_code == 200, changed.json
    for app_client in (other, client):
        assert tabs(page_text(app_client.get(page))) == ["Card"]


@pytest.mark.postgres  # the cache is PostgreSQL's: SQLite reads the rules on every page
def test_a_page_with_the_rules_kept_sends_no_query_for_them(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    rule(client, tenant, country="DE", methods=["card", "bank"])
    assert client.get(f"/pay/{cs['id']}").status_code == 200  # read once, kept
    sent = statements(clean)
    assert client.get(f"/pay/{cs['id']}").status_code == 200
    assert sent and not [s for s in sent if "locality_rule" in s], sent
    assert any("cache_version" in s for s in sent)  # the version came with the tenant lookup


@pytest.mark.postgres  # the cache is PostgreSQL's: SQLite reads again on every call
def test_a_revoked_key_is_refused_on_its_next_use_here_and_in_another_process(
    client: FlaskClient, other: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    for app_client in (client, other):
        assert app_client.get(BALANCE, headers=auth(key)).status_code == 200
    sent = statements(clean)
    assert client.get(BALANCE, headers=auth(key)).status_code == 200
    assert not [s for s in sent if "kassa_key_owner" in s], sent  # kept: no lookup
    revoked = client.post(f"/api/v1/api_keys/{key_id_of(client, key)}/revoke", headers=auth(key))
    assert revoked.status_code == 200, revoked.json
    for app_client in (client, other):
        refused = app_client.get(BALANCE, headers=auth(key))
        assert refused.status_code == 401 and "revoked" in refused.json["error"]["message"]


def test_a_new_webhook_endpoint_hears_the_next_event_of_a_warm_process(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    create_session(client, tenant)  # asks whether an endpoint hears checkout.session.created: none; kept
    assert fan_out_jobs(clean, tenant) == []
    create_endpoint(clean, tenant, "http://127.0.0.1:9/hooks", events=["checkout.session.created"])
    create_session(client, tenant)
    assert len(fan_out_jobs(clean, tenant)) == 1


def fan_out_jobs(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.job == "core.webhooks.jobs.on_event")
        )
        return [str(r.kwargs["event_id"]) for r in rows]


@pytest.mark.postgres  # the cache is PostgreSQL's: SQLite reads again on every call
def test_new_data_keys_seal_the_next_card_here_and_in_another_process(
    app: Flask, client: FlaskClient, other: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    for app_client in (client, other):  # each process seals a card under the tenant's card key, kept
        answer = submit_pay_form(app_client, create_session(client, tenant)["id"])
        assert answer.status_code in (302, 303), answer.get_data(as_text=True)
    (old,) = card_keys(clean, tenant)
    rotated = app.test_cli_runner().invoke(args=["keys", "rotate", "--data-keys"])
    assert rotated.exit_code == 0, rotated.output
    (new,) = card_keys(clean, tenant)
    assert new != old
    for app_client in (other, client):
        answer = submit_pay_form(app_client, create_session(client, tenant)["id"])
        assert answer.status_code in (302, 303), answer.get_data(as_text=True)
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            newest = uow.session.scalars(select(VaultCard).order_by(VaultCard.created_at.desc())).first()
        assert newest is not None and newest.data_key_id == new


def card_keys(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        active = select(DataKey.id).where(DataKey.purpose == KeyPurpose.CARD, DataKey.retired_at.is_(None))
        return list(uow.session.scalars(active))
