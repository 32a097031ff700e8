"""How long card data and keys live: the retention purge, data-key rotation, the CVC's own key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import service as audit
from core.audit.models import AuditEvent
from core.clock import FrozenClock, system_clock
from core.jobs.runtime import Runtime
from core.jobs.worker import SCHEDULE
from core.keys.service import unseal
from core.kms import DecryptionFailed
from core.vault import service as vault
from core.vault.models import DataKey, KeyPurpose, VaultCard
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, load, work, work_until_settled
from tests.portal.test_sign_in import sign_in


def _cron(rt: Runtime, name: str) -> None:
    """Run one `kassa cron` entry, then the worker over what it enqueued."""
    (entry,) = [item for item in SCHEDULE if item.name == name]
    entry.action(rt)
    work(rt)


def _cards(rt: Runtime, tenant: MadeTenant) -> dict[str, VaultCard]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        cards = {c.id: c for c in uow.session.scalars(select(VaultCard))}
        uow.session.expunge_all()
        return cards


def _keys(rt: Runtime, tenant: MadeTenant, purpose: KeyPurpose) -> list[DataKey]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        keys = list(
            uow.session.scalars(select(DataKey).where(DataKey.purpose == purpose).order_by(DataKey.id))
        )
        uow.session.expunge_all()
        return keys


def _reveal(rt: Runtime, tenant: MadeTenant, token_id: str) -> vault.CardDetails:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return vault.reveal(uow.session, tenant_id=tenant.id, token_id=token_id, kms=rt.kms)


def _paid(rt: Runtime, client: FlaskClient, tenant: MadeTenant, card: str = "4242 4242 4242 4242") -> str:
    cs = create_session(client, tenant, amount=5000)
    payment_id = confirm(rt, tenant, cs["id"], card_number=card)
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"
    return payment_id


# --- retention ------------------------------------------------------------------------------------------


def test_card_numbers_past_retention_are_purged_and_refunds_still_work(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    old_payment = _paid(clean, client, tenant)
    old = load(clean, tenant, old_payment)
    assert old.card_token_id is not None
    before = _cards(clean, tenant)[old.card_token_id]

    window = clean.settings.card_retention_days
    later = FrozenClock(datetime.now(UTC) + timedelta(days=window, hours=1))
    monkeypatch.setattr(clean, "clock", later)
    recent_payment = _paid(clean, client, tenant, "5555 5555 5555 4444")  # final just now: kept
    recent = load(clean, tenant, recent_payment)
    assert recent.card_token_id is not None

    _cron(clean, "purge card numbers past retention")

    cards = _cards(clean, tenant)
    purged, kept = cards[old.card_token_id], cards[recent.card_token_id]
    assert purged.pan_encrypted is None and purged.data_key_id is None and purged.purged_at == later.now()
    assert (purged.brand, purged.last4, purged.fingerprint, purged.exp_year) == (
        before.brand,
        "4242",
        before.fingerprint,
        before.exp_year,
    )
    assert kept.pan_encrypted is not None and _reveal(clean, tenant, recent.card_token_id).last4 == "4444"
    with pytest.raises(vault.CardDataPurged):
        _reveal(clean, tenant, old.card_token_id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        event = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "vault.cards.purged")).one()
        assert audit.read_details(uow.session, event, kms=clean.kms) == {
            "tokens": [old.card_token_id],
            "retention_days": window,
        }

    # What the API and the receipt page show comes from the payment, not from the vault.
    api = client.get(f"/api/v1/payments/{old_payment}", headers=key).json
    assert (api["card"]["brand"], api["card"]["last4"]) == ("visa", "4242")
    page = client.get(f"/pay/{old.checkout_session_id}/receipt").get_data(as_text=True)
    assert "4242" in page and "Visa" in page
    # Refunds go by the processor's payment reference: no card number needed.
    refund = client.post("/api/v1/refunds", json={"payment": old_payment}, headers=key)
    assert refund.status_code == 201 and refund.json["status"] == "succeeded", refund.json
    assert client.get(f"/api/v1/payments/{old_payment}", headers=key).json["status"] == "refunded"

    # The refund is a new final state: the retention clock of the recent card starts again, and a second
    # run purges nothing.
    _cron(clean, "purge card numbers past retention")
    assert _cards(clean, tenant)[recent.card_token_id].pan_encrypted is not None

    # The portal's payment page too (signed in on today's clock: the TOTP code is today's).
    monkeypatch.setattr(clean, "clock", system_clock)
    sign_in(client, tenant)
    portal = client.get(f"/portal/payments/{old_payment}").get_data(as_text=True)
    assert "4242" in portal and "visa" in portal.lower()


def test_a_card_whose_payment_is_not_final_is_kept_however_old(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"])  # pending: the worker has not authorized it yet
    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC) + timedelta(days=1000)))
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        from core.vault import lifetimes

        assert (
            lifetimes.purge_expired_cards(
                uow.session,
                tenant_id=tenant.id,
                retention=timedelta(days=1),
                kms=clean.kms,
                clock=clean.clock,
            )
            == 0
        )
    token = load(clean, tenant, payment_id).card_token_id
    assert token is not None and _cards(clean, tenant)[token].pan_encrypted is not None


# --- data keys ------------------------------------------------------------------------------------------


def test_kassa_keys_rotate_data_keys_reencrypts_every_card_and_destroys_the_old_key(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    shop, other = make.tenants(), make.tenants()
    paid = _paid(clean, client, shop)
    # Tokenized (at confirm) before the rotation, authorized by the worker after it.
    waiting_session = create_session(client, other)
    waiting = confirm(clean, other, waiting_session["id"], card_number="5555 5555 5555 4444")
    for _ in range(2):
        _paid(clean, client, other, "4012 8888 8888 1881")
    before = {t.id: _cards(clean, t) for t in (shop, other)}
    old_card_keys = {t.id: _keys(clean, t, KeyPurpose.CARD) for t in (shop, other)}
    old_audit_keys = {t.id: _keys(clean, t, KeyPurpose.AUDIT) for t in (shop, other)}
    assert all(len(keys) == 1 for keys in old_card_keys.values())

    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--data-keys", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "New card and audit data keys for 2 tenant(s)" in result.output
    assert "Re-encrypting cards" in result.output  # the progress bar
    assert "Re-encrypted 4 card(s) and destroyed 2 retired card key(s)" in result.output

    for tenant in (shop, other):
        (new_key,) = _keys(clean, tenant, KeyPurpose.CARD)  # the old one is gone
        assert new_key.id != old_card_keys[tenant.id][0].id and new_key.retired_at is None
        for token_id, card in _cards(clean, tenant).items():
            assert card.data_key_id == new_key.id
            assert card.pan_encrypted != before[tenant.id][token_id].pan_encrypted
            assert card.fingerprint == before[tenant.id][token_id].fingerprint
            assert _reveal(clean, tenant, token_id).last4 == card.last4
        audit_keys = _keys(clean, tenant, KeyPurpose.AUDIT)
        assert len(audit_keys) == 2 and audit_keys[0].retired_at is not None  # kept for older details
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            assert audit.verify(uow.session, tenant_id=tenant.id, kms=clean.kms) == []
            first = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).first()
            assert first is not None and audit.read_details(uow.session, first, kms=clean.kms) is not None
        assert old_audit_keys[tenant.id][0].id in {k.id for k in audit_keys}

    # A card tokenized before the rotation is authorized after it.
    assert str(work_until_settled(clean, other, waiting).status) == "succeeded"
    assert str(load(clean, shop, paid).status) == "succeeded"

    again = app.test_cli_runner().invoke(args=["keys", "rotate", "--data-keys"])
    assert again.exit_code == 0 and "Re-encrypted 4 card(s)" in again.output  # a new generation again


def test_cron_rotates_only_card_keys_older_than_the_max_age(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    _paid(clean, client, tenant)
    (first,) = _keys(clean, tenant, KeyPurpose.CARD)
    max_age = clean.settings.data_key_max_age_days

    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC) + timedelta(days=max_age - 1)))
    _cron(clean, "rotate data keys past their max age")
    assert [k.id for k in _keys(clean, tenant, KeyPurpose.CARD)] == [first.id]

    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC) + timedelta(days=max_age + 1)))
    _cron(clean, "rotate data keys past their max age")
    (second,) = _keys(clean, tenant, KeyPurpose.CARD)
    assert second.id != first.id and second.created_at == clean.clock.now()
    (card,) = _cards(clean, tenant).values()
    assert card.data_key_id == second.id and _reveal(clean, tenant, card.id).last4 == "4242"
    _cron(clean, "rotate data keys past their max age")  # the new key is young: nothing happens
    assert [k.id for k in _keys(clean, tenant, KeyPurpose.CARD)] == [second.id]


# --- the CVC --------------------------------------------------------------------------------------------


def test_the_cvc_is_sealed_under_its_own_purpose_key_never_the_card_or_kms_key(
    make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    card = vault.validate_card("4242424242424242", 12, 2034, clock=clean.clock)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        token = vault.tokenize(uow.session, tenant_id=tenant.id, card=card, kms=clean.kms, clock=clean.clock)
    vault.stash_cvc(clean.redis, tenant_id=tenant.id, token_id=token.token_id, cvc="737", kms=clean.kms)
    redis_key = f"kassa:vault:cvc:{tenant.id}:{token.token_id}"
    blob = clean.redis.get(redis_key)
    assert isinstance(blob, bytes) and b"737" not in blob
    context = f"vault.cvc:{tenant.id}:{token.token_id}"

    # Not the KMS's sealing key, not the tenant's card data key.
    with pytest.raises(DecryptionFailed):
        clean.kms.decrypt(blob, context=context)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow, pytest.raises(DecryptionFailed):
        unseal(uow.session, tenant_id=tenant.id, purpose=KeyPurpose.CARD, blob=blob, kms=clean.kms)

    # It is HKDF of the master key's `cvc` purpose key with a random salt: one key per CVC.
    key_id, salt, nonce, sealed = blob[1:9], blob[9:25], blob[25:37], blob[37:]
    assert key_id == clean.kms.current_key_id
    per_cvc = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=context.encode()).derive(
        clean.kms.purpose_key("cvc")
    )
    assert AESGCM(per_cvc).decrypt(nonce, sealed, None) == b"737"
    assert vault.peek_cvc(clean.redis, tenant_id=tenant.id, token_id=token.token_id, kms=clean.kms) == "737"

    vault.stash_cvc(clean.redis, tenant_id=tenant.id, token_id=token.token_id, cvc="737", kms=clean.kms)
    again = clean.redis.get(redis_key)
    assert isinstance(again, bytes) and again[9:25] != salt  # a fresh salt, so a fresh key, every time
    # Bound to its token: moved to another token's key, it does not open.
    other = "tok_01m8r61czh692r2mfhgyb47qnd"
    clean.redis.set(f"kassa:vault:cvc:{tenant.id}:{other}", again)
    with pytest.raises(DecryptionFailed):
        vault.peek_cvc(clean.redis, tenant_id=tenant.id, token_id=other, kms=clean.kms)
    assert clean.kms.purpose_key("cvc") != clean.kms.purpose_key("audit-head")


def test_a_cvc_stashed_before_the_upgrade_still_opens(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    token = "tok_01m8r61czh692r2mfhgyb47qnd"
    legacy = clean.kms.encrypt(b"737", context=f"vault.cvc:{tenant.id}:{token}")  # the old format
    clean.redis.set(f"kassa:vault:cvc:{tenant.id}:{token}", legacy)
    assert vault.peek_cvc(clean.redis, tenant_id=tenant.id, token_id=token, kms=clean.kms) == "737"
