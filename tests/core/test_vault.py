"""The card vault: validation, tokenization, envelope encryption, the CVC in Redis, master-key rotation."""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from stdnum import luhn

from core.clock import FrozenClock
from core.config import ConfigurationError, Settings
from core.db import Base
from core.errors import InvalidInput, NotFound
from core.jobs import runtime as runtime_module
from core.jobs.runtime import Runtime
from core.keys.service import ensure_data_key
from core.kms import DecryptionFailed, LocalKMS
from core.vault import service as vault
from core.vault.models import DataKey, KeyPurpose, VaultCard
from core.vault.service import CardDetails
from tenants.models import User
from tenants.service import check_totp
from tests.factories import MadeTenant
from tests.fixtures import Factories, inspector
from wsgi import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CLOCK = FrozenClock(NOW)


def _luhn_complete(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


# --- validation -----------------------------------------------------------------------------------------

# Every test card of ARCHITECTURE.md, and the other brands' usual test numbers.
TEST_CARDS = [
    ("4242 4242 4242 4242", "visa", "US"),
    ("4000 0000 0000 0002", "visa", "US"),
    ("4000 0000 0000 9995", "visa", "US"),
    ("4000 0000 0000 0069", "visa", "US"),
    ("4000 0027 6000 3184", "visa", "DE"),
    ("4000 0000 0000 0119", "visa", "US"),
    ("5555 5555 5555 4444", "mastercard", "US"),
    ("2223 0031 2200 3222", "mastercard", "US"),
    ("3782 822463 10005", "amex", "US"),
    ("6011 1111 1111 1117", "discover", "US"),
    ("3530 1113 3330 0000", "jcb", "JP"),
    ("3056 9300 0902 0004", "diners", "US"),
    ("6200 0000 0000 0005", "unionpay", "CN"),
    ("6759 6498 2643 8453", "maestro", None),
    ("5018 0000 0000 0009", "maestro", None),
    ("4000 0200 0000 0000", "visa", "DE"),  # BIN 400002
    ("4111-1111-1111-1111", "visa", None),
]


@pytest.mark.parametrize(("number", "brand", "country"), TEST_CARDS)
def test_test_cards_are_valid_with_their_brand_and_country(
    number: str, brand: str, country: str | None
) -> None:
    card = vault.validate_card(number, 12, 2030, clock=CLOCK)
    digits = re.sub(r"[ -]", "", number)
    assert card == CardDetails(pan=digits, exp_month=12, exp_year=2030)
    assert vault.detect_brand(card.pan) == brand
    assert vault.bin_country(card.pan) == country


@pytest.mark.parametrize(
    "number",
    [
        "4242 4242 4242 4241",  # Luhn fails
        "4000 0000 0000 0001",
        "4242424242",  # too short
        "42424242424",
        _luhn_complete("4" * 19),  # 20 digits: too long
        "4242 4242 abcd 4242",
        "\uff14\uff12" * 8,  # full-width digits are not ASCII digits
        "4242.4242.4242.4242",
    ],
)
def test_bad_card_numbers_are_refused_without_showing_the_digits(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        vault.validate_card(number, 12, 2030, clock=CLOCK)
    assert info.value.param == "card_number"
    assert info.value.message == "Card number is not valid. Check the digits."
    for shown in (str(info.value), repr(info.value), info.value.message):
        assert number not in shown and re.sub(r"\D", "", number) not in shown


@pytest.mark.parametrize("number", ["", "   ", None, 4242424242424242])
def test_a_missing_card_number_asks_for_one(number: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        vault.validate_card(number, 12, 2030, clock=CLOCK)
    assert info.value.param == "card_number"


@given(st.text(alphabet="0123456789 -", min_size=12, max_size=24))
def test_no_error_message_ever_contains_the_number(number: str) -> None:
    digits = re.sub(r"\D", "", number)
    try:
        card = vault.validate_card(number, 12, 2030, clock=CLOCK)
    except InvalidInput as exc:
        assert exc.param == "card_number" and not re.search(r"[0-9]", exc.message)
    else:
        assert card.pan == digits and luhn.is_valid(digits)
        assert digits not in repr(card)


@pytest.mark.parametrize(
    ("month", "year", "expected"),
    [
        (11, 2026, (11, 2026)),  # the current month: valid through its last day
        (12, 26, (12, 2026)),
        ("01", "27", (1, 2027)),
        (" 7 ", " 2030 ", (7, 2030)),
        (1, 2046, (1, 2046)),  # 20 years ahead
    ],
)
def test_good_expiry_dates(month: object, year: object, expected: tuple[int, int]) -> None:
    card = vault.validate_card("4242424242424242", month, year, clock=CLOCK)
    assert (card.exp_month, card.exp_year) == expected


@pytest.mark.parametrize(
    ("month", "year", "param", "message"),
    [
        (10, 2026, "exp_month", "Expiry date is in the past."),
        (12, 2025, "exp_year", "Expiry date is in the past."),
        (12, 25, "exp_year", "Expiry date is in the past."),
        (1, 2047, "exp_year", "Expiry year is more than 20 years away. Check the date."),
        (13, 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        (0, 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        ("1a", 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        ("001", 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        (True, 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        (None, 2027, "exp_month", "Expiry month must be a number from 1 to 12."),
        (12, "202", "exp_year", "Expiry year must have 2 or 4 digits (for example 28 or 2028)."),
        (12, 2030.0, "exp_year", "Expiry year must have 2 or 4 digits (for example 28 or 2028)."),
        (12, "", "exp_year", "Expiry year must have 2 or 4 digits (for example 28 or 2028)."),
        (12, -30, "exp_year", "Expiry year must have 2 or 4 digits (for example 28 or 2028)."),
    ],
)
def test_bad_expiry_dates(month: object, year: object, param: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        vault.validate_card("4242424242424242", month, year, clock=CLOCK)
    assert (info.value.param, info.value.message) == (param, message)
    assert "4242" not in info.value.message


def test_a_card_is_good_until_the_last_moment_of_its_month() -> None:
    last_moment = FrozenClock(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    assert vault.validate_card("4242424242424242", 11, 2026, clock=last_moment).exp_month == 11
    last_moment.advance(seconds=1)
    with pytest.raises(InvalidInput, match="in the past"):
        vault.validate_card("4242424242424242", 11, 2026, clock=last_moment)


@pytest.mark.parametrize(
    ("cvc", "brand", "expected"),
    [
        ("123", "visa", "123"),
        (" 042 ", "mastercard", "042"),
        ("1234", "amex", "1234"),
        ("123", "unknown", "123"),
    ],
)
def test_good_security_codes(cvc: object, brand: str, expected: str) -> None:
    assert vault.validate_cvc(cvc, brand=brand) == expected


@pytest.mark.parametrize(
    ("cvc", "brand", "message"),
    [
        ("1234", "visa", "Security code must be 3 digits."),
        ("12", "visa", "Security code must be 3 digits."),
        ("123", "amex", "Security code must be 4 digits."),
        ("12a", "visa", "Security code must be 3 digits."),
        ("١٢٣", "visa", "Security code must be 3 digits."),  # Arabic-Indic digits
        (123, "visa", "Security code must be 3 digits."),  # a number would have lost its leading zero
        (None, "visa", "Security code must be 3 digits."),
    ],
)
def test_bad_security_codes(cvc: object, brand: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        vault.validate_cvc(cvc, brand=brand)
    assert (info.value.param, info.value.message) == ("cvc", message)


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", "visa"),
        ("51", "mastercard"),
        ("55", "mastercard"),
        ("2221", "mastercard"),
        ("2720", "mastercard"),
        ("2220", "unknown"),
        ("2721", "unknown"),
        ("50", "maestro"),
        ("5018", "maestro"),
        ("49", "visa"),
        ("56", "maestro"),
        ("58", "maestro"),
        ("59", "unknown"),
        ("6304", "maestro"),
        ("6759", "maestro"),
        ("67", "maestro"),
        ("66", "unknown"),
        ("68", "unknown"),
        ("60", "unknown"),
        ("61", "unknown"),
        ("34", "amex"),
        ("37", "amex"),
        ("35", "unknown"),
        ("6011", "discover"),
        ("644", "discover"),
        ("649", "discover"),
        ("65", "discover"),
        ("6012", "unknown"),
        ("3528", "jcb"),
        ("3589", "jcb"),
        ("3527", "unknown"),
        ("300", "diners"),
        ("305", "diners"),
        ("3095", "diners"),
        ("36", "diners"),
        ("38", "diners"),
        ("39", "diners"),
        ("306", "unknown"),
        ("62", "unionpay"),
        ("81", "unionpay"),
        ("9", "unknown"),
        ("", "unknown"),
    ],
)
def test_brand_from_the_leading_digits(prefix: str, brand: str) -> None:
    assert vault.detect_brand(prefix.ljust(16, "0")) == brand


def test_card_details_never_show_the_number() -> None:
    card = CardDetails(pan="4000002760003184", exp_month=3, exp_year=2030)
    for shown in (repr(card), str(card), f"{card}", repr([card]), str(ValueError(card)), f"{card!r}"):
        assert "4000002760003184" not in shown and "400000276" not in shown
        assert "3184" in shown
    assert card.last4 == "3184"


def test_card_summary_as_api_shows_only_the_contract_fields() -> None:
    summary = vault.CardSummary(
        token_id="tok_x",
        brand="visa",
        last4="4242",
        exp_month=1,
        exp_year=2030,
        country="US",
        fingerprint="f",
    )
    assert summary.as_api() == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 1,
        "exp_year": 2030,
        "country": "US",
    }


# --- tokenization ---------------------------------------------------------------------------------------


def _tokenize(
    rt: Runtime, tenant: MadeTenant, number: str = "4242424242424242", **expiry: int
) -> vault.CardSummary:
    card = vault.validate_card(number, expiry.get("month", 12), expiry.get("year", 2030), clock=rt.clock)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return vault.tokenize(uow.session, tenant_id=tenant.id, card=card, kms=rt.kms, clock=rt.clock)


def test_a_tokenized_card_reveals_the_same_card_and_summarizes_without_it(
    make: Factories, clean: Runtime
) -> None:
    shop = make.tenants()
    summary = _tokenize(clean, shop, "4000 0027 6000 3184", month=3, year=2031)
    assert summary.token_id.startswith("tok_")
    assert summary.as_api() == {
        "brand": "visa",
        "last4": "3184",
        "exp_month": 3,
        "exp_year": 2031,
        "country": "DE",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", summary.fingerprint)
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        assert vault.card_summary(uow.session, tenant_id=shop.id, token_id=summary.token_id) == summary
        revealed = vault.reveal(uow.session, tenant_id=shop.id, token_id=summary.token_id, kms=clean.kms)
    assert revealed == CardDetails(pan="4000002760003184", exp_month=3, exp_year=2031)


def test_the_same_card_keeps_its_fingerprint_within_a_tenant_only(make: Factories, clean: Runtime) -> None:
    shop, other_shop = make.tenants(), make.tenants()
    first, second = _tokenize(clean, shop), _tokenize(clean, shop, "4242-4242-4242-4242", year=2032)
    assert first.token_id != second.token_id  # a new token each time
    assert first.fingerprint == second.fingerprint
    assert _tokenize(clean, shop, "5555555555554444").fingerprint != first.fingerprint
    assert _tokenize(clean, other_shop).fingerprint != first.fingerprint
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        assert (
            vault.fingerprint_of(uow.session, tenant_id=shop.id, pan="4242 4242 4242 4242", kms=clean.kms)
            == first.fingerprint
        )


def test_another_tenants_token_is_not_found(make: Factories, clean: Runtime) -> None:
    shop, other_shop = make.tenants(), make.tenants()
    token = _tokenize(clean, shop).token_id
    with clean.db.unit_of_work(tenant_id=other_shop.id) as uow:
        with pytest.raises(NotFound):
            vault.card_summary(uow.session, tenant_id=other_shop.id, token_id=token)
        with pytest.raises(NotFound):
            vault.reveal(uow.session, tenant_id=other_shop.id, token_id=token, kms=clean.kms)
        # Naming the owner while the session is bound to someone else does not help either.
        with pytest.raises(NotFound):
            vault.reveal(uow.session, tenant_id=shop.id, token_id=token, kms=clean.kms)
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        with pytest.raises(NotFound) as info:
            vault.card_summary(uow.session, tenant_id=shop.id, token_id="4242424242424242")
        assert "4242" not in str(info.value)


def test_one_data_key_per_tenant_and_purpose_wrapped_by_the_master_key(
    make: Factories, clean: Runtime
) -> None:
    shop = make.tenants()
    _tokenize(clean, shop)
    _tokenize(clean, shop, "5555555555554444")
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        keys = list(uow.session.scalars(select(DataKey)))
        cards = list(uow.session.scalars(select(VaultCard)))
    assert sorted(k.purpose for k in keys) == [
        "audit",
        "card",
        "fingerprint",
    ]  # audit: the tenant's set-up events
    assert all(k.id.startswith("dk_") and k.kms_key_id == clean.kms.current_key_id.hex() for k in keys)
    card_key = next(k for k in keys if k.purpose == KeyPurpose.CARD)
    assert {c.data_key_id for c in cards} == {card_key.id}


def test_racing_first_uses_settle_on_one_data_key(make: Factories, clean: Runtime) -> None:
    shop = make.tenants()
    seen: dict[str, str] = {}

    def other_transaction() -> None:
        with clean.db.unit_of_work(tenant_id=shop.id) as uow:
            key = ensure_data_key(
                uow.session, tenant_id=shop.id, purpose=KeyPurpose.CARD, kms=clean.kms, clock=clean.clock
            )
            seen["other"] = key.id

    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        mine = ensure_data_key(
            uow.session, tenant_id=shop.id, purpose=KeyPurpose.CARD, kms=clean.kms, clock=clean.clock
        )
        racer = threading.Thread(target=other_transaction)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive(), "the second creator should wait for the first one's transaction"
    racer.join(timeout=20)
    assert seen == {"other": mine.id}


def test_sealed_blobs_open_only_for_their_tenant_purpose_and_aad(make: Factories, clean: Runtime) -> None:
    shop, other_shop = make.tenants(), make.tenants()
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        blob = vault.seal(
            uow.session, tenant_id=shop.id, purpose="audit", plaintext=b"details", kms=clean.kms, aad=b"aud_1"
        )
        assert b"details" not in blob
        opened = vault.unseal(
            uow.session, tenant_id=shop.id, purpose="audit", blob=blob, kms=clean.kms, aad=b"aud_1"
        )
        assert opened == b"details"
        with pytest.raises(DecryptionFailed):
            vault.unseal(
                uow.session, tenant_id=shop.id, purpose="audit", blob=blob, kms=clean.kms, aad=b"aud_2"
            )
        with pytest.raises(DecryptionFailed):
            vault.unseal(
                uow.session, tenant_id=shop.id, purpose="card", blob=blob, kms=clean.kms, aad=b"aud_1"
            )
        tampered = blob[:-1] + bytes([blob[-1] ^ 1])
        with pytest.raises(DecryptionFailed):
            vault.unseal(
                uow.session, tenant_id=shop.id, purpose="audit", blob=tampered, kms=clean.kms, aad=b"aud_1"
            )
        with pytest.raises(ValueError, match="not a valid KeyPurpose"):
            vault.seal(uow.session, tenant_id=shop.id, purpose="email", plaintext=b"x", kms=clean.kms)
    with clean.db.unit_of_work(tenant_id=other_shop.id) as uow, pytest.raises(DecryptionFailed):
        vault.unseal(
            uow.session, tenant_id=other_shop.id, purpose="audit", blob=blob, kms=clean.kms, aad=b"aud_1"
        )


# --- card data never at rest in clear -------------------------------------------------------------------


def _every_database_value(rt: Runtime) -> Iterator[tuple[str, object]]:
    # As the owner role, so row-level security hides nothing on PostgreSQL.
    with inspector(rt).connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for value in row:
                    yield table.name, value


def _every_redis_item(rt: Runtime) -> Iterator[bytes]:
    for key in rt.redis.scan_iter(count=1000):
        yield key
        kind = rt.redis.type(key)
        if kind == b"string":
            yield rt.redis.get(key) or b""
        elif kind == b"hash":
            for field, value in rt.redis.hgetall(key).items():
                yield field
                yield value
        elif kind == b"list":
            yield from rt.redis.lrange(key, 0, -1)
        elif kind == b"set":
            yield from rt.redis.smembers(key)
        elif kind == b"zset":
            yield from rt.redis.zrange(key, 0, -1)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _holds(value: bytes, secret: str) -> bool:
    # Digits standing alone: an id or a hash may contain any short digit run by chance, a field cannot.
    return re.search(rb"(?<![0-9A-Za-z])" + secret.encode() + rb"(?![0-9A-Za-z])", value) is not None


def test_the_card_number_and_cvc_are_nowhere_in_the_database_or_redis(
    make: Factories, clean: Runtime
) -> None:
    shop = make.tenants()
    pan = _luhn_complete("37" + "".join(str(b % 10) for b in os.urandom(12)))  # a one-off Amex number
    cvc = "8264"
    summary = _tokenize(clean, shop, pan)
    vault.validate_cvc(cvc, brand=summary.brand)
    vault.stash_cvc(clean.redis, tenant_id=shop.id, token_id=summary.token_id, cvc=cvc, kms=clean.kms)

    db_values = [(table, _as_bytes(v)) for table, v in _every_database_value(clean)]
    assert any(table == "vault_cards" for table, _ in db_values)
    for table, value in db_values:
        assert pan.encode() not in value, f"card number in {table}"
        assert pan[:-4].encode() not in value, f"card number digits in {table}"
        assert not _holds(value, cvc), f"CVC in {table}"
    redis_items = list(_every_redis_item(clean))
    assert redis_items
    for item in redis_items:
        assert pan.encode() not in item and cvc.encode() not in item


def test_the_cvc_waits_sealed_in_redis_until_discarded_or_expired(make: Factories, clean: Runtime) -> None:
    shop, other_shop = make.tenants(), make.tenants()
    token = _tokenize(clean, shop).token_id
    vault.stash_cvc(clean.redis, tenant_id=shop.id, token_id=token, cvc="737", kms=clean.kms, ttl_seconds=600)
    [key] = list(clean.redis.scan_iter(match="kassa:vault:cvc:*"))
    assert re.fullmatch(rb"kassa:vault:cvc:ten_[0-9a-z]{26}:tok_[0-9a-z]{26}", key)
    assert 0 < clean.redis.ttl(key) <= 600
    assert b"737" not in (clean.redis.get(key) or b"")
    # Peeking leaves it in place: a retried authorization needs it again.
    assert vault.peek_cvc(clean.redis, tenant_id=shop.id, token_id=token, kms=clean.kms) == "737"
    assert vault.peek_cvc(clean.redis, tenant_id=shop.id, token_id=token, kms=clean.kms) == "737"
    assert vault.peek_cvc(clean.redis, tenant_id=other_shop.id, token_id=token, kms=clean.kms) is None
    vault.discard_cvc(clean.redis, tenant_id=shop.id, token_id=token)
    vault.discard_cvc(clean.redis, tenant_id=shop.id, token_id=token)
    assert vault.peek_cvc(clean.redis, tenant_id=shop.id, token_id=token, kms=clean.kms) is None
    assert clean.redis.exists(key) == 0


def test_a_cvc_is_never_stashed_under_anything_but_ids(make: Factories, clean: Runtime) -> None:
    shop = make.tenants()
    with pytest.raises(ValueError, match="tok_") as info:
        vault.stash_cvc(clean.redis, tenant_id=shop.id, token_id="4242424242424242", cvc="737", kms=clean.kms)
    assert "4242" not in str(info.value)
    with pytest.raises(ValueError, match="ttl"):
        vault.stash_cvc(
            clean.redis,
            tenant_id=shop.id,
            token_id=_tokenize(clean, shop).token_id,
            cvc="737",
            kms=clean.kms,
            ttl_seconds=0,
        )
    assert list(clean.redis.scan_iter(match="kassa:vault:*")) == []


# --- master-key rotation --------------------------------------------------------------------------------


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _pan_blobs(rt: Runtime, tenant_id: str) -> dict[str, bytes]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return {c.id: c.pan_encrypted for c in uow.session.scalars(select(VaultCard))}


def _reveal(rt: Runtime, tenant_id: str, token_id: str, kms: LocalKMS) -> CardDetails:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return vault.reveal(uow.session, tenant_id=tenant_id, token_id=token_id, kms=kms)


def _totp_verifies(rt: Runtime, made: MadeTenant, kms: LocalKMS) -> bool:
    with rt.db.unit_of_work() as uow:
        user = uow.session.get(User, made.owner.id)
        assert user is not None
        return check_totp(user, code=pyotp.TOTP(made.totp_secret).now(), kms=kms, clock=rt.clock)


def test_rotation_rewraps_data_keys_and_seeds_but_not_card_data(make: Factories, clean: Runtime) -> None:
    old_key, new_key = clean.settings.master_key_bytes(), os.urandom(32)
    shop, other_shop = make.tenants(), make.tenants()
    tokens = {
        shop.id: _tokenize(clean, shop),
        other_shop.id: _tokenize(clean, other_shop, "5555555555554444"),
    }
    before = {tenant_id: _pan_blobs(clean, tenant_id) for tenant_id in tokens}
    rotating = LocalKMS(new_key, previous=(old_key,))

    plan = vault.rotation_plan(clean.db, kms=rotating)
    # card + fingerprint + audit keys of two tenants, two TOTP seeds, two signed audit heads
    assert (plan.data_keys, plan.totp_secrets, plan.audit_heads, plan.total) == (6, 2, 2, 10)
    assert plan.audit_details == 0  # audit details are sealed under the tenant's audit data key
    batches: list[int] = []
    done = vault.rotate_master_key(clean.db, kms=rotating, batch=1, progress=batches.append, clock=CLOCK)
    assert done == 10
    assert batches == [1] * 10

    new_alone = LocalKMS(new_key)
    for tenant_id, summary in tokens.items():
        assert _pan_blobs(clean, tenant_id) == before[tenant_id]  # card ciphertexts, byte for byte
        assert _reveal(clean, tenant_id, summary.token_id, new_alone).last4 == summary.last4
        with pytest.raises(DecryptionFailed, match="does not hold"):
            _reveal(clean, tenant_id, summary.token_id, LocalKMS(old_key))
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        assert vault.fingerprint_of(
            uow.session, tenant_id=shop.id, pan="4242424242424242", kms=new_alone
        ) == (tokens[shop.id].fingerprint)
        keys = list(uow.session.scalars(select(DataKey)))
    assert all(k.kms_key_id == new_alone.current_key_id.hex() and k.rotated_at == NOW for k in keys)
    assert _totp_verifies(clean, shop, new_alone) and _totp_verifies(clean, other_shop, new_alone)

    again: list[int] = []
    assert vault.rotate_master_key(clean.db, kms=rotating, progress=again.append) == 0
    assert again == []
    assert vault.rotation_plan(clean.db, kms=rotating).total == 0


def test_rotation_stops_with_advice_when_a_key_is_missing(make: Factories, clean: Runtime) -> None:
    shop = make.tenants()
    _tokenize(clean, shop)
    stranger = LocalKMS(os.urandom(32), previous=(os.urandom(32),))
    with pytest.raises(vault.RotationFailed, match="Add that key to KASSA_PREVIOUS_MASTER_KEYS"):
        vault.rotate_master_key(clean.db, kms=stranger)
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        assert {k.kms_key_id for k in uow.session.scalars(select(DataKey))} == {
            clean.kms.current_key_id.hex()
        }


def test_previous_master_keys_come_from_the_environment() -> None:
    old, new = os.urandom(32), os.urandom(32)
    settings = Settings.from_env(
        {
            "KASSA_MASTER_KEY": _b64(new),
            "KASSA_PREVIOUS_MASTER_KEYS": f" {_b64(old)} , {_b64(os.urandom(32))},",
        }
    )
    assert settings.previous_master_keys[0] == _b64(old) and len(settings.previous_master_keys) == 2
    runtime = runtime_module.build(settings.with_changes(database_url="sqlite://", redis_url="fakeredis://"))
    try:
        assert runtime.kms.decrypt(LocalKMS(old).encrypt(b"x", context="c"), context="c") == b"x"
        assert runtime.kms.current_key_id == LocalKMS(new).current_key_id
    finally:
        runtime.db.dispose()
    assert Settings.from_env({}).previous_master_keys == ()
    short = _b64(b"too short")
    with pytest.raises(ConfigurationError, match="entry 2 is not") as info:
        Settings.from_env({"KASSA_PREVIOUS_MASTER_KEYS": f"{_b64(old)},{short}"})
    assert short not in str(info.value)


def test_kassa_keys_rotate_refuses_without_previous_keys(app: Flask, clean: Runtime) -> None:
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1
    assert (
        "set KASSA_MASTER_KEY to the new key and KASSA_PREVIOUS_MASTER_KEYS to the old one(s), then run again"
        in result.output
    )
    assert "Traceback" not in result.output


def test_kassa_keys_rotate_rewraps_and_says_when_the_old_key_may_go(
    make: Factories, clean: Runtime, migrated: Settings
) -> None:
    old_key, new_key = clean.settings.master_key_bytes(), os.urandom(32)
    shop = make.tenants()
    token = _tokenize(clean, shop).token_id
    settings = migrated.with_changes(master_key=_b64(new_key), previous_master_keys=(_b64(old_key),))
    rotated = Runtime(
        settings=settings,
        db=clean.db,
        redis=clean.redis,
        kms=LocalKMS(new_key, previous=(old_key,)),
        clock=clean.clock,
    )
    runner = create_app(settings, runtime=rotated).test_cli_runner()

    result = runner.invoke(args=["keys", "rotate", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "Card numbers stay sealed" in result.output
    assert "Re-wrapped 5 key(s): 3 data key(s), 1 TOTP seed(s) and 1 signed audit head(s)" in result.output
    # Audit details are sealed under the tenant's audit data key, so nothing pins the old master key.
    assert "you may remove KASSA_PREVIOUS_MASTER_KEYS" in result.output
    assert _reveal(clean, shop.id, token, LocalKMS(new_key)).last4 == "4242"

    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-wrapped 0 key(s)" in result.output
    assert "you may remove KASSA_PREVIOUS_MASTER_KEYS" in result.output
