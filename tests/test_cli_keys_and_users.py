"""`kassa keys list|roll|revoke` (tenants' API keys) and `kassa users create` for a person who already
has an account (their password and TOTP seed are never changed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.errors import AuthenticationFailed
from core.jobs.runtime import Runtime
from tenants.resolution import memberships_of
from tenants.service import check_password, check_totp
from tests.factories import PASSWORD
from tests.fixtures import Factories
from tests.payments_helpers import auth

BALANCE = "/api/v1/balance"


@pytest.fixture
def clock(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(clean.clock.now())
    monkeypatch.setattr(clean, "clock", frozen)
    return frozen


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def new_tenant(app: Flask, slug: str) -> dict[str, str]:
    made = cli(
        app,
        "tenants",
        "create",
        "--name",
        slug.title(),
        "--slug",
        slug,
        "--country",
        "DE",
        "--currency",
        "EUR",
        "--json",
    )
    assert made.exit_code == 0, made.output
    return dict(json.loads(made.output))


def secret_key_id(app: Flask, slug: str) -> str:
    listed = cli(app, "keys", "list", "--tenant", slug)
    assert listed.exit_code == 0, listed.output
    (line,) = [line for line in listed.output.splitlines() if " secret " in line and " active " in line]
    return line.split()[0]


def test_keys_roll_keeps_the_old_key_for_the_overlap(
    app: Flask, client: FlaskClient, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = new_tenant(app, "acme")
    old = tenant["secret_key"]
    old_id = secret_key_id(app, "acme")
    rolled = cli(app, "keys", "roll", "--tenant", "acme", "--key", old_id, "--overlap", "2h", "--json")
    assert rolled.exit_code == 0, rolled.output
    out = json.loads(rolled.output)
    new = out["key"]
    assert new.startswith("sk_test_") and out["replaced"] == old_id
    assert out["replaced_until"] == int(clock.now().timestamp()) + 7200
    listed = cli(app, "keys", "list", "--tenant", "acme").output
    assert f"{old_id}  test  secret       expiring until" in listed
    clock.advance(hours=1, minutes=59)
    assert client.get(BALANCE, headers=auth(old)).status_code == 200
    clock.advance(minutes=1)
    assert client.get(BALANCE, headers=auth(old)).status_code == 401
    assert client.get(BALANCE, headers=auth(new)).status_code == 200
    assert "expired" in cli(app, "keys", "list", "--tenant", "acme").output


def test_keys_roll_overlap_zero_and_revoke_are_immediate(
    app: Flask, client: FlaskClient, clean: Runtime
) -> None:
    tenant = new_tenant(app, "acme")
    first = tenant["secret_key"]
    rolled = cli(
        app, "keys", "roll", "--tenant", "acme", "--key", secret_key_id(app, "acme"), "--overlap", "0"
    )
    assert rolled.exit_code == 0, rolled.output
    assert "is revoked now" in rolled.output and "shown only now" in rolled.output
    second = rolled.output.split()[2]
    assert client.get(BALANCE, headers=auth(first)).status_code == 401
    assert client.get(BALANCE, headers=auth(second)).status_code == 200

    second_id = secret_key_id(app, "acme")
    revoked = cli(app, "keys", "revoke", "--tenant", "acme", "--key", second_id)
    assert revoked.exit_code == 0 and "is revoked since" in revoked.output
    assert client.get(BALANCE, headers=auth(second)).status_code == 401
    with clean.db.unit_of_work(tenant_id=tenant["tenant_id"]) as uow:
        audited = uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert audited.count(actions.API_KEY_REFUSED) == 2
    assert actions.API_KEY_ROLLED in audited and actions.API_KEY_REVOKED in audited


def test_keys_commands_refuse_bad_input_clearly(app: Flask, clean: Runtime) -> None:
    new_tenant(app, "acme")
    key_id = secret_key_id(app, "acme")
    for args, message in (
        (["roll", "--tenant", "acme", "--key", key_id, "--overlap", "soon"], "24h"),
        (["roll", "--tenant", "acme", "--key", key_id, "--overlap", "8d"], "7 days"),
        (["roll", "--tenant", "acme", "--key", "key_nope"], "No such API key"),
        (["revoke", "--tenant", "nope", "--key", key_id], "No tenant"),
    ):
        result = cli(app, "keys", *args)
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert secret_key_id(app, "acme") == key_id  # nothing changed
    other = new_tenant(app, "other")
    assert other
    elsewhere = cli(app, "keys", "revoke", "--tenant", "other", "--key", key_id)
    assert elsewhere.exit_code == 1 and "No such API key" in elsewhere.output
    assert "master key" in cli(app, "keys", "rotate", "--help").output
    assert "not the master key" in cli(app, "keys", "roll", "--help").output


def test_users_create_never_changes_an_existing_persons_password(
    app: Flask, make: Factories, clean: Runtime
) -> None:
    first = make.tenants()
    new_tenant(app, "acme")
    base = ["users", "create", "--tenant", "acme", "--email", first.owner_email, "--role", "analyst"]
    refused = cli(app, *base, "--password", "an attacker's new password")
    assert refused.exit_code == 1 and "never changes an existing person's password" in refused.output
    seed = cli(app, *base, "--totp-secret", "JBSWY3DPEHPK3PXPJBSWY3DP")
    assert seed.exit_code == 1 and "authentication app" in seed.output
    with clean.db.unit_of_work() as uow:
        assert memberships_of(uow.session, first.owner.id) == [(first.id, "owner")]  # nothing attached

    added = cli(app, *base)  # no --password: the person keeps theirs
    assert added.exit_code == 0, added.output
    assert "Existing user" in added.output and "password and authentication app are unchanged" in added.output
    with clean.db.unit_of_work() as uow:
        tenants = [tenant_id for tenant_id, _ in memberships_of(uow.session, first.owner.id)]
        assert len(tenants) == 2 and tenants[0] == first.id
        user = check_password(uow.session, email=first.owner_email, password=PASSWORD)
        with pytest.raises(AuthenticationFailed):
            check_password(uow.session, email=first.owner_email, password="an attacker's new password")
        assert check_totp(user, code=first.code(), kms=clean.kms, clock=clean.clock)


def test_users_create_for_a_new_person_still_needs_a_password(app: Flask, clean: Runtime) -> None:
    new_tenant(app, "acme")
    base = ["users", "create", "--tenant", "acme", "--email", "ann@acme.example", "--role", "admin"]
    prompted = app.test_cli_runner().invoke(
        args=base, input="a long enough password\na long enough password\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert "ann@acme.example" in prompted.output and "admin of acme" in prompted.output
    with clean.db.unit_of_work() as uow:
        assert check_password(uow.session, email="ann@acme.example", password="a long enough password")
