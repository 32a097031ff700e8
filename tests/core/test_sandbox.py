"""The sandbox acquirer: the design's test-card table, approvals, idempotency, money moves and faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.clock import FrozenClock
from core.config import ConfigurationError
from core.jobs.runtime import Runtime
from core.processors import (
    AuthorizationRequest,
    IdempotencyKeyReused,
    LiveModeUnavailable,
    ProcessorResult,
    ProcessorStatus,
    ProcessorTimeout,
    ProcessorUnavailable,
    SandboxConfig,
    SandboxProcessor,
    TestCards,
    get_processor,
)

CLOCK = FrozenClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
CVC = "737"


@dataclass(frozen=True)
class Card:
    """Shaped like the vault's CardDetails (the processor only needs these three fields)."""

    pan: str
    exp_month: int = 12
    exp_year: int = 2030


_keys = iter(range(1, 10**9))


def new_key() -> str:
    return f"pay_test_{next(_keys)}"


def card_request(
    pan: str, *, key: str | None = None, capture: bool = True, amount: int = 1999, **extra: Any
) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=key or new_key(),
        tenant_id="ten_test",
        amount=amount,
        currency="eur",
        method="card",
        capture=capture,
        card=extra.pop("card", Card(pan)),
        cvc=CVC,
        **extra,
    )


def approval_request(
    method: str, *, key: str, approval: str | None, capture: bool = True
) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=key,
        tenant_id="ten_test",
        amount=5000,
        currency="EUR",
        method=method,
        capture=capture,
        approval=approval,
        bank="sandbox-bank" if method == "bank" else None,
    )


@pytest.fixture
def sandbox(clean: Runtime) -> SandboxProcessor:
    return SandboxProcessor(clean.redis, clock=CLOCK)


def _values(value: Any) -> Iterator[Any]:
    """Every leaf of a JSON-like structure."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _values(item)
    else:
        yield value


def _redis_contents(client: redis.Redis) -> list[tuple[bytes, bytes]]:
    """Every key with each of its values (strings, hashes, lists, sets), as bytes."""
    pairs: list[tuple[bytes, bytes]] = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            pairs.append((key, client.get(key)))
        elif kind == "hash":
            pairs += [(key, k + b"=" + v) for k, v in client.hgetall(key).items()]
        elif kind == "list":
            pairs += [(key, v) for v in client.lrange(key, 0, -1)]
        elif kind == "set":
            pairs += [(key, v) for v in client.smembers(key)]
        elif kind == "zset":
            pairs += [(key, v) for v in client.zrange(key, 0, -1)]
        else:
            pairs.append((key, client.dump(key) or b""))
    return pairs


# -- the test-card table of ARCHITECTURE.md ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pan", "status", "code", "message"),
    [
        ("4242 4242 4242 4242", ProcessorStatus.CAPTURED, None, None),
        ("4000 0000 0000 0002", ProcessorStatus.DECLINED, "card_declined", "Your card was declined."),
        (
            "4000 0000 0000 9995",
            ProcessorStatus.DECLINED,
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        ("4000 0000 0000 0069", ProcessorStatus.DECLINED, "expired_card", "Your card has expired."),
        ("4000 0027 6000 3184", ProcessorStatus.REQUIRES_ACTION, "authentication_required", None),
        ("5555 5555 5555 4444", ProcessorStatus.CAPTURED, None, None),  # any other Luhn-valid number
        ("3782 822463 10005", ProcessorStatus.CAPTURED, None, None),
        (
            "4242 4242 4242 4241",
            ProcessorStatus.DECLINED,
            "incorrect_number",
            "Your card number is incorrect.",
        ),
    ],
)
def test_each_test_card_has_its_documented_outcome(
    sandbox: SandboxProcessor, pan: str, status: ProcessorStatus, code: str | None, message: str | None
) -> None:
    request = card_request(pan)
    result = sandbox.authorize(request)
    assert result.status is status
    assert result.code == code
    if message is not None:
        assert result.message == message
    assert result.raw_response["amount"] == 1999 and result.raw_response["currency"] == "EUR"
    assert result.raw_request["card"]["last4"] == pan.replace(" ", "")[-4:]
    expected_charges = 1 if status is ProcessorStatus.CAPTURED else 0
    assert sandbox.charges(request.idempotency_key) == expected_charges
    if status is ProcessorStatus.CAPTURED:
        assert result.reference is not None and result.reference.startswith("sbx_")
        assert sandbox.charge(result.reference)["status"] == "captured"


def test_manual_capture_authorizes_without_capturing(sandbox: SandboxProcessor) -> None:
    result = sandbox.authorize(card_request(TestCards.SUCCESS, capture=False))
    assert result.status is ProcessorStatus.AUTHORIZED
    assert result.reference is not None
    charge = sandbox.charge(result.reference)
    assert charge["status"] == "authorized" and charge["authorized"] == "1999" and charge["captured"] == "0"


def test_a_card_past_its_expiry_is_declined(sandbox: SandboxProcessor) -> None:
    result = sandbox.authorize(card_request("", card=Card(TestCards.SUCCESS, exp_month=10, exp_year=2026)))
    assert (result.status, result.code) == (ProcessorStatus.DECLINED, "expired_card")
    this_month = sandbox.authorize(card_request("", card=Card(TestCards.SUCCESS, exp_month=11, exp_year=26)))
    assert this_month.status is ProcessorStatus.CAPTURED


def test_processor_error_card_fails_the_first_attempt_only(sandbox: SandboxProcessor) -> None:
    request = card_request(TestCards.PROCESSOR_ERROR)
    with pytest.raises(ProcessorUnavailable):
        sandbox.authorize(request)
    assert sandbox.charges(request.idempotency_key) == 0
    retried = sandbox.authorize(request)
    assert retried.status is ProcessorStatus.CAPTURED
    again = sandbox.authorize(request)
    assert again.reference == retried.reference and again.replayed
    assert sandbox.charges(request.idempotency_key) == 1
    # Another payment with the same card fails its own first attempt again.
    with pytest.raises(ProcessorUnavailable):
        sandbox.authorize(card_request(TestCards.PROCESSOR_ERROR))


# -- 3-D Secure and approvals --------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [True, False])
def test_3ds_challenge_passed_charges_the_card(sandbox: SandboxProcessor, capture: bool) -> None:
    key = new_key()
    challenge = sandbox.authorize(card_request(TestCards.THREE_DS, key=key, capture=capture))
    assert challenge.status is ProcessorStatus.REQUIRES_ACTION and challenge.reference is None
    # Not remembered: asking again still asks for the challenge, and nothing was charged.
    assert (
        sandbox.authorize(card_request(TestCards.THREE_DS, key=key)).status is ProcessorStatus.REQUIRES_ACTION
    )
    assert sandbox.charges(key) == 0
    done = sandbox.authorize(card_request(TestCards.THREE_DS, key=key, capture=capture, three_ds="passed"))
    assert done.status is (ProcessorStatus.CAPTURED if capture else ProcessorStatus.AUTHORIZED)
    assert sandbox.charges(key) == 1


def test_3ds_challenge_failed_declines_for_good(sandbox: SandboxProcessor) -> None:
    key = new_key()
    sandbox.authorize(card_request(TestCards.THREE_DS, key=key))
    failed = sandbox.authorize(card_request(TestCards.THREE_DS, key=key, three_ds="failed"))
    assert (failed.status, failed.code) == (ProcessorStatus.DECLINED, "authentication_failed")
    # The answer for this key is final: a later "passed" replays the decline and charges nothing.
    late = sandbox.authorize(card_request(TestCards.THREE_DS, key=key, three_ds="passed"))
    assert (late.status, late.code, late.replayed) == (
        ProcessorStatus.DECLINED,
        "authentication_failed",
        True,
    )
    assert sandbox.charges(key) == 0


@pytest.mark.parametrize("method", ["wallet", "bank"])
def test_wallet_and_bank_wait_for_approval_then_capture(sandbox: SandboxProcessor, method: str) -> None:
    key = new_key()
    pending = sandbox.authorize(approval_request(method, key=key, approval=None))
    assert pending.status is ProcessorStatus.PENDING_APPROVAL and sandbox.charges(key) == 0
    approved = sandbox.authorize(approval_request(method, key=key, approval="approved"))
    assert approved.status is ProcessorStatus.CAPTURED and approved.reference is not None
    assert sandbox.charges(key) == 1
    manual = sandbox.authorize(approval_request(method, key=new_key(), approval="approved", capture=False))
    assert manual.status is ProcessorStatus.AUTHORIZED


@pytest.mark.parametrize("method", ["wallet", "bank"])
def test_wallet_and_bank_decline(sandbox: SandboxProcessor, method: str) -> None:
    key = new_key()
    declined = sandbox.authorize(approval_request(method, key=key, approval="declined"))
    assert (declined.status, declined.code) == (ProcessorStatus.DECLINED, "payment_declined")
    assert declined.message == f"The payment was declined in your {method}."
    assert (
        sandbox.authorize(approval_request(method, key=key, approval="approved")).status
        is ProcessorStatus.DECLINED
    )
    assert sandbox.charges(key) == 0


def test_requests_the_worker_must_never_send_are_refused_loudly(sandbox: SandboxProcessor) -> None:
    with pytest.raises(ValueError, match="method"):
        sandbox.authorize(approval_request("crypto", key=new_key(), approval=None))
    with pytest.raises(ValueError, match="card"):
        sandbox.authorize(card_request(TestCards.SUCCESS, card=None))
    with pytest.raises(ValueError, match="three_ds"):
        sandbox.authorize(card_request(TestCards.THREE_DS, three_ds="maybe"))


# -- idempotency -------------------------------------------------------------------------------------


def test_a_repeated_key_replays_the_first_answer_without_a_second_charge(sandbox: SandboxProcessor) -> None:
    request = card_request(TestCards.SUCCESS)
    first = sandbox.authorize(request)
    second = sandbox.authorize(request)
    assert (second.status, second.reference) == (first.status, first.reference)
    assert second.replayed and not first.replayed
    assert sandbox.charges(request.idempotency_key) == 1


def test_a_decline_is_replayed_too(sandbox: SandboxProcessor) -> None:
    request = card_request(TestCards.DECLINED)
    first, second = sandbox.authorize(request), sandbox.authorize(request)
    assert first.reference == second.reference and second.code == "card_declined" and second.replayed


def test_the_sandbox_remembers_across_processes(clean: Runtime) -> None:
    # A worker SIGKILLed after the acquirer charged: the next worker's processor object replays.
    request = card_request(TestCards.SUCCESS)
    first = SandboxProcessor(clean.redis, clock=CLOCK).authorize(request)
    second = SandboxProcessor(clean.redis, clock=CLOCK).authorize(request)
    assert second.reference == first.reference
    assert SandboxProcessor(clean.redis).charges(request.idempotency_key) == 1


def test_twenty_concurrent_calls_with_one_key_create_one_charge(sandbox: SandboxProcessor) -> None:
    request = card_request(TestCards.SUCCESS)
    barrier = threading.Barrier(20)
    results: list[ProcessorResult] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(sandbox.authorize(request))
        except BaseException as exc:  # reported below, with the thread's own exception
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == 20
    assert {r.reference for r in results} == {results[0].reference}
    assert {r.status for r in results} == {ProcessorStatus.CAPTURED}
    assert sum(not r.replayed for r in results) == 1
    assert sandbox.charges(request.idempotency_key) == 1


# -- capture, cancel, refund, payout ---------------------------------------------------------------


def _authorized(sandbox: SandboxProcessor, amount: int = 1000) -> str:
    result = sandbox.authorize(card_request(TestCards.SUCCESS, capture=False, amount=amount))
    assert result.status is ProcessorStatus.AUTHORIZED and result.reference is not None
    return result.reference


def _captured(sandbox: SandboxProcessor, amount: int = 1000) -> str:
    result = sandbox.authorize(card_request(TestCards.SUCCESS, amount=amount))
    assert result.status is ProcessorStatus.CAPTURED and result.reference is not None
    return result.reference


def test_an_authorization_can_be_captured_partially_once(sandbox: SandboxProcessor) -> None:
    ref = _authorized(sandbox)
    too_much = sandbox.capture(idempotency_key=new_key(), reference=ref, amount=1001, currency="EUR")
    assert (too_much.status, too_much.code) == (ProcessorStatus.DECLINED, "amount_too_large")
    key = new_key()
    captured = sandbox.capture(idempotency_key=key, reference=ref, amount=600, currency="EUR")
    assert captured.status is ProcessorStatus.CAPTURED and captured.reference == ref
    assert captured.raw_response["amount"] == 600
    replay = sandbox.capture(idempotency_key=key, reference=ref, amount=600, currency="EUR")
    assert replay.status is ProcessorStatus.CAPTURED and replay.replayed
    assert sandbox.operations("capture", key) == 1
    twice = sandbox.capture(idempotency_key=new_key(), reference=ref, amount=100, currency="EUR")
    assert (twice.status, twice.code) == (ProcessorStatus.DECLINED, "charge_already_captured")
    assert sandbox.charge(ref)["captured"] == "600"


def test_capture_is_refused_for_unknown_charges_and_other_currencies(sandbox: SandboxProcessor) -> None:
    unknown = sandbox.capture(idempotency_key=new_key(), reference="sbx_nope", amount=1, currency="EUR")
    assert unknown.code == "charge_not_found"
    ref = _authorized(sandbox)
    other = sandbox.capture(idempotency_key=new_key(), reference=ref, amount=100, currency="USD")
    assert other.code == "currency_mismatch"


def test_cancel_releases_an_authorization(sandbox: SandboxProcessor) -> None:
    ref = _authorized(sandbox)
    canceled = sandbox.cancel(idempotency_key=new_key(), reference=ref)
    assert canceled.status is ProcessorStatus.CANCELED
    assert sandbox.cancel(idempotency_key=new_key(), reference=ref).status is ProcessorStatus.CANCELED
    late = sandbox.capture(idempotency_key=new_key(), reference=ref, amount=100, currency="EUR")
    assert (late.status, late.code) == (ProcessorStatus.DECLINED, "charge_not_capturable")
    captured = _captured(sandbox)
    refused = sandbox.cancel(idempotency_key=new_key(), reference=captured)
    assert (refused.status, refused.code) == (ProcessorStatus.DECLINED, "charge_already_captured")


def test_refunds_are_counted_once_per_key_and_never_exceed_the_capture(sandbox: SandboxProcessor) -> None:
    ref = _captured(sandbox, amount=1000)
    key = new_key()
    first = sandbox.refund(idempotency_key=key, reference=ref, amount=400, currency="EUR")
    assert first.status is ProcessorStatus.REFUNDED and first.reference not in (None, ref)
    again = sandbox.refund(idempotency_key=key, reference=ref, amount=400, currency="EUR")
    assert again.reference == first.reference and again.replayed
    assert sandbox.operations("refund", key) == 1
    too_much = sandbox.refund(idempotency_key=new_key(), reference=ref, amount=601, currency="EUR")
    assert (too_much.status, too_much.code) == (ProcessorStatus.DECLINED, "amount_too_large")
    rest = sandbox.refund(idempotency_key=new_key(), reference=ref, amount=600, currency="EUR")
    assert rest.status is ProcessorStatus.REFUNDED
    assert sandbox.charge(ref)["refunded"] == "1000"


def test_the_refund_failure_card_is_charged_and_every_refund_of_it_is_declined(
    sandbox: SandboxProcessor,
) -> None:
    charged = sandbox.authorize(card_request(TestCards.REFUND_FAILS, amount=1000))
    assert charged.status is ProcessorStatus.CAPTURED and charged.reference is not None
    key = new_key()
    refused = sandbox.refund(idempotency_key=key, reference=charged.reference, amount=400, currency="EUR")
    assert (refused.status, refused.code) == (ProcessorStatus.DECLINED, "refund_declined")
    assert sandbox.operations("refund", key) == 0
    assert sandbox.charge(charged.reference)["refunded"] == "0"
    replay = sandbox.refund(idempotency_key=key, reference=charged.reference, amount=400, currency="EUR")
    assert replay.code == "refund_declined" and replay.replayed


def test_an_uncaptured_authorization_cannot_be_refunded(sandbox: SandboxProcessor) -> None:
    ref = _authorized(sandbox)
    refused = sandbox.refund(idempotency_key=new_key(), reference=ref, amount=100, currency="EUR")
    assert (refused.status, refused.code) == (ProcessorStatus.DECLINED, "charge_not_captured")


def test_concurrent_refunds_never_exceed_the_captured_amount(sandbox: SandboxProcessor) -> None:
    ref = _captured(sandbox, amount=1000)
    barrier = threading.Barrier(10)
    results: list[ProcessorResult] = []

    def call() -> None:
        barrier.wait()
        results.append(sandbox.refund(idempotency_key=new_key(), reference=ref, amount=300, currency="EUR"))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    refunded = [r for r in results if r.status is ProcessorStatus.REFUNDED]
    assert len(results) == 10 and len(refunded) == 3
    assert sandbox.charge(ref)["refunded"] == "900"


@pytest.mark.parametrize("operation", ["capture", "refund"])
def test_a_key_reused_with_another_amount_is_refused_and_moves_nothing(
    sandbox: SandboxProcessor, operation: str
) -> None:
    # Like a real acquirer: one key names one request. The refusal carries the first answer, so the
    # caller learns what moved under the key (a retry after a crash), and nothing moves for this call.
    ref = _authorized(sandbox, amount=1000) if operation == "capture" else _captured(sandbox, amount=1000)
    call = sandbox.capture if operation == "capture" else sandbox.refund
    key = new_key()
    first = call(idempotency_key=key, reference=ref, amount=500, currency="EUR")
    assert first.amount == 500 and not first.replayed
    with pytest.raises(IdempotencyKeyReused, match="amount 500 then 1000") as refused:
        call(idempotency_key=key, reference=ref, amount=1000, currency="EUR")
    original = refused.value.original
    assert (original.status, original.reference, original.amount) == (first.status, first.reference, 500)
    assert original.replayed and original.raw_request["amount"] == 500
    with pytest.raises(IdempotencyKeyReused, match="currency 'EUR' then 'USD'"):
        call(idempotency_key=key, reference=ref, amount=500, currency="USD")
    assert sandbox.operations(operation, key) == 1
    charge = sandbox.charge(ref)
    assert charge["captured" if operation == "capture" else "refunded"] == "500"
    same = call(idempotency_key=key, reference=ref, amount=500, currency="EUR")
    assert same.replayed and same.amount == 500


def test_every_answer_that_moved_money_says_how_much(sandbox: SandboxProcessor) -> None:
    authorized = sandbox.authorize(card_request(TestCards.SUCCESS, capture=False, amount=1200))
    assert (authorized.status, authorized.amount) == (ProcessorStatus.AUTHORIZED, 1200)
    captured = sandbox.authorize(card_request(TestCards.SUCCESS, amount=800))
    assert (captured.status, captured.amount) == (ProcessorStatus.CAPTURED, 800)
    declined = sandbox.authorize(card_request(TestCards.DECLINED))
    assert declined.amount is None
    paid = sandbox.payout(
        idempotency_key=new_key(), amount=300, currency="EUR", destination="DE89370400440532013000"
    )
    assert paid.amount == 300


def test_a_payout_is_paid_once_per_key(sandbox: SandboxProcessor) -> None:
    key = new_key()
    paid = sandbox.payout(
        idempotency_key=key, amount=25000, currency="EUR", destination="DE89370400440532013000"
    )
    assert paid.status is ProcessorStatus.PAID_OUT and paid.reference is not None
    assert paid.raw_request["destination"] == "****3000"
    again = sandbox.payout(
        idempotency_key=key, amount=25000, currency="EUR", destination="DE89370400440532013000"
    )
    assert again.reference == paid.reference and sandbox.operations("payout", key) == 1
    with pytest.raises(ValueError, match="unknown operation"):
        sandbox.operations("teleport", key)


# -- faults ------------------------------------------------------------------------------------------


def test_injected_faults_never_leave_a_charge_behind(clean: Runtime) -> None:
    flaky = SandboxProcessor(
        clean.redis, config=SandboxConfig(fault_rate=0.4, timeout_rate=0.2, seed=7), clock=CLOCK
    )
    faults = 0
    for _ in range(15):
        request = card_request(TestCards.SUCCESS)
        while True:
            try:
                result = flaky.authorize(request)
                break
            except ProcessorUnavailable:
                faults += 1
                assert flaky.charges(request.idempotency_key) == 0
        assert result.status is ProcessorStatus.CAPTURED
        assert flaky.charges(request.idempotency_key) == 1
    assert faults > 0


def test_always_failing_acquirer_writes_nothing(clean: Runtime) -> None:
    down = SandboxProcessor(clean.redis, config=SandboxConfig(fault_rate=1.0), clock=CLOCK)
    with pytest.raises(ProcessorUnavailable) as failure:
        down.authorize(card_request(TestCards.SUCCESS))
    assert not isinstance(failure.value, ProcessorTimeout)
    slow = SandboxProcessor(clean.redis, config=SandboxConfig(timeout_rate=1.0), clock=CLOCK)
    with pytest.raises(ProcessorTimeout):
        slow.payout(idempotency_key=new_key(), amount=1, currency="EUR", destination="x")
    assert list(clean.redis.scan_iter("kassa:sandbox:*")) == []


def test_latency_is_injected(clean: Runtime) -> None:
    slow = SandboxProcessor(clean.redis, config=SandboxConfig(latency_ms=80), clock=CLOCK)
    started = time.monotonic()
    slow.authorize(card_request(TestCards.SUCCESS))
    assert time.monotonic() - started >= 0.08


def test_an_unreachable_acquirer_is_a_transient_fault() -> None:
    offline_redis = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    offline = SandboxProcessor(offline_redis, clock=CLOCK)
    with pytest.raises(ProcessorUnavailable, match="unreachable"):
        offline.authorize(card_request(TestCards.SUCCESS))


def test_fault_injection_reads_the_environment() -> None:
    config = SandboxConfig.from_env(
        {
            "KASSA_SANDBOX_LATENCY_MS": "25",
            "KASSA_SANDBOX_FAULT_RATE": "0.1",
            "KASSA_SANDBOX_TIMEOUT_RATE": "0.05",
        }
    )
    assert config == SandboxConfig(latency_ms=25, fault_rate=0.1, timeout_rate=0.05)
    assert SandboxConfig.from_env({}) == SandboxConfig()
    with pytest.raises(ConfigurationError, match="KASSA_SANDBOX_FAULT_RATE"):
        SandboxConfig.from_env({"KASSA_SANDBOX_FAULT_RATE": "lots"})
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        SandboxConfig.from_env({"KASSA_SANDBOX_TIMEOUT_RATE": "1.5"})


# -- card data stays out -----------------------------------------------------------------------------


def test_no_card_number_or_cvc_reaches_redis_or_the_audit_details(
    sandbox: SandboxProcessor, clean: Runtime
) -> None:
    pans = [
        TestCards.SUCCESS,
        TestCards.DECLINED,
        TestCards.INSUFFICIENT_FUNDS,
        TestCards.EXPIRED,
        TestCards.THREE_DS,
        TestCards.PROCESSOR_ERROR,
        "5555555555554444",
    ]
    results: list[ProcessorResult] = []
    for pan in pans:
        request = card_request(pan, capture=False)
        for _ in range(2):
            try:
                results.append(sandbox.authorize(request))
                break
            except ProcessorUnavailable:
                continue
        results.append(sandbox.authorize(card_request(pan, key=request.idempotency_key, three_ds="passed")))
    ref = _authorized(sandbox)
    results.append(sandbox.capture(idempotency_key=new_key(), reference=ref, amount=500, currency="EUR"))
    results.append(sandbox.refund(idempotency_key=new_key(), reference=ref, amount=100, currency="EUR"))

    contents = _redis_contents(clean.redis)
    assert contents, "the sandbox should have remembered something"
    for key, value in contents:
        for pan in pans:
            assert pan.encode() not in key and pan.encode() not in value
        assert b"cvc" not in value.lower() or b"cvc_provided" in value.lower()
    for result in results:
        for leaf in _values([result.raw_request, result.raw_response]):
            assert leaf != CVC
            assert not (isinstance(leaf, str) and any(pan in leaf for pan in pans))
        assert "cvc" not in json.dumps(result.raw_request).replace("cvc_provided", "")


def test_sandbox_memory_expires(sandbox: SandboxProcessor, clean: Runtime) -> None:
    sandbox.authorize(card_request(TestCards.SUCCESS))
    for key in clean.redis.scan_iter("kassa:sandbox:*"):
        assert 0 < clean.redis.ttl(key) <= 7 * 24 * 3600


def test_a_request_never_prints_the_card_number_or_cvc() -> None:
    request = card_request("4242 4242 4242 4242")
    for text in (repr(request), str(request), f"{request}", repr([request])):
        assert "4242 4242 4242 4242" not in text and "4242424242424242" not in text
        assert CVC not in text
        assert "****4242" in text


# -- modes -------------------------------------------------------------------------------------------


def test_test_mode_gets_the_sandbox_and_live_mode_a_clear_error(clean: Runtime) -> None:
    assert isinstance(get_processor(livemode=False, redis=clean.redis), SandboxProcessor)
    assert get_processor(livemode=False, redis=clean.redis).name == "sandbox"
    with pytest.raises(LiveModeUnavailable) as refused:
        get_processor(livemode=True, redis=clean.redis)
    error = refused.value
    assert (error.status, error.code) == (400, "livemode_unavailable")
    assert "no live processor" in error.message and "test keys" in error.message
