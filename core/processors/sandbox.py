"""The sandbox acquirer: the test-card table of the design, wallet/bank approvals, and fault injection.

It stands in for an *external* acquirer, so its memory lives in Redis (keys `kassa:sandbox:…`, kept for
a week), not in Kassa's database: what it did survives the caller's rollback or SIGKILL, exactly like a
real acquirer's would. That memory never holds card data: last4 and brand only, and idempotency keys
appear only hashed.

Exactly-once: a final answer (authorized, captured, declined, …) is written under its idempotency key in
one Redis transaction (WATCH/MULTI) together with the charge it creates, so of two concurrent calls with
one key exactly one creates the charge and the other replays it. Non-final answers (requires_action,
pending_approval) are not remembered: the follow-up call, carrying the shopper's answer, decides.

Like a real acquirer (Stripe answers `idempotency_error`), it remembers each key's request parameters
(amount, currency, charge; a payout's destination hashed) with the answer and refuses a call that reuses
the key with other parameters: `IdempotencyKeyReused`, carrying the first answer, and nothing moves. So a
key never conflates two different requests, and every answer that moved money reports its `amount`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from redis.client import Pipeline

from core import descriptors, telemetry
from core.clock import Clock, system_clock
from core.config import ConfigurationError
from core.processors.base import (
    AuthorizationRequest,
    IdempotencyKeyReused,
    ProcessorResult,
    ProcessorStatus,
    ProcessorTimeout,
    ProcessorUnavailable,
    card_brand,
    last4,
)
from core.redis import RedisClient

log = logging.getLogger(__name__)

PREFIX: Final = "kassa:sandbox:"
#: How long the sandbox remembers charges and idempotency keys (a real acquirer: days to weeks).
TTL_SECONDS: Final = 7 * 24 * 3600
METHODS: Final = ("card", "wallet", "bank")
OPERATIONS: Final = ("authorize", "capture", "cancel", "refund", "payout")
#: Answers that moved money or changed a charge (counted by `operations()`).
_COUNTED: Final = frozenset(
    {
        ProcessorStatus.AUTHORIZED,
        ProcessorStatus.CAPTURED,
        ProcessorStatus.CANCELED,
        ProcessorStatus.REFUNDED,
        ProcessorStatus.PAID_OUT,
    }
)
_WATCH_RETRIES: Final = 100


class TestCards:
    """The design's sandbox test cards (ARCHITECTURE.md): any future expiry, any CVC."""

    __test__ = False  # not a pytest test class, whatever its name

    SUCCESS: Final = "4242424242424242"
    DECLINED: Final = "4000000000000002"
    INSUFFICIENT_FUNDS: Final = "4000000000009995"
    EXPIRED: Final = "4000000000000069"
    THREE_DS: Final = "4000002760003184"
    PROCESSOR_ERROR: Final = "4000000000000119"
    #: Succeeds; every refund of its charge is then declined (`refund_declined`): `refund.failed`.
    REFUND_FAILS: Final = "4000000000005126"
    # Risk test cards (core/risk/test_cards.py): screening decides their outcome in test mode; the
    # sandbox approves them like any other number.
    RISK_ALWAYS_BLOCKED: Final = "4100000000000019"
    RISK_ELEVATED: Final = "4000000000004954"
    RISK_VELOCITY: Final = "4000000000006975"
    # Cards other parts of Kassa act on after the sandbox approved them: settled at once, without the
    # settlement delay (core/payments, payouts); disputed a moment after success, and its inquiry variant
    # (core/disputes).
    INSTANT_SETTLEMENT: Final = "4000000000000077"
    DISPUTE: Final = "4000000000000259"
    DISPUTE_INQUIRY: Final = "4000000000001976"


def is_test_card(*, livemode: bool, card_bin: str | None, card_last4: str | None, card: str) -> bool:
    """Whether a test-mode payment's card, as Kassa keeps it (BIN and last four, never the number), is
    the test card `card`."""
    return not livemode and bool(card_bin) and card.startswith(card_bin or "") and card_last4 == card[-4:]


#: Test card -> (decline code, message the shopper reads).
_DECLINES: Final = {
    TestCards.DECLINED: ("card_declined", "Your card was declined."),
    TestCards.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
    TestCards.EXPIRED: ("expired_card", "Your card has expired."),
}
_EXPIRED: Final = ("expired_card", "Your card has expired.")
_INCORRECT_NUMBER: Final = ("incorrect_number", "Your card number is incorrect.")
_AUTHENTICATION_FAILED: Final = (
    "authentication_failed",
    "We could not verify it was you (3-D Secure failed).",
)
_REFUND_DECLINED: Final = (
    "refund_declined",
    "The card's issuer refused the refund (the account is closed or the card canceled).",
)
_INVALID_AMOUNT: Final = ("invalid_amount", "The amount must be a positive number of minor units.")
_INVALID_DESCRIPTOR: Final = (
    "invalid_statement_descriptor",
    "The statement descriptor breaks the card networks' rules (5-22 characters: A-Z, 0-9, spaces and "
    ".,-*&', at least one letter, upper case).",
)


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True)
class SandboxConfig:
    """Latency and fault injection, for tests and benchmarks. Faults strike before any state change."""

    latency_ms: int = 0
    #: Share of calls (0..1) that fail with ProcessorUnavailable.
    fault_rate: float = 0.0
    #: Share of calls (0..1) that fail with ProcessorTimeout.
    timeout_rate: float = 0.0
    #: Seed of the fault dice, for reproducible runs; None: a fresh sequence each time.
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ConfigurationError("KASSA_SANDBOX_LATENCY_MS must be 0 or more milliseconds.")
        for name, rate in (("FAULT", self.fault_rate), ("TIMEOUT", self.timeout_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ConfigurationError(f"KASSA_SANDBOX_{name}_RATE must be between 0 and 1; got {rate}.")
        if self.fault_rate + self.timeout_rate > 1.0:
            raise ConfigurationError(
                "KASSA_SANDBOX_FAULT_RATE + KASSA_SANDBOX_TIMEOUT_RATE must not exceed 1."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SandboxConfig:
        def number(name: str, kind: Callable[[str], Any], default: Any) -> Any:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number; got {raw!r}.") from None

        seed = environ.get("KASSA_SANDBOX_SEED", "").strip()
        return cls(
            latency_ms=number("KASSA_SANDBOX_LATENCY_MS", int, 0),
            fault_rate=number("KASSA_SANDBOX_FAULT_RATE", float, 0.0),
            timeout_rate=number("KASSA_SANDBOX_TIMEOUT_RATE", float, 0.0),
            seed=number("KASSA_SANDBOX_SEED", int, None) if seed else None,
        )


@dataclass
class _Answer:
    """A decided answer, before it is stored: what the result says and which charge fields it writes."""

    status: ProcessorStatus
    reference: str | None
    code: str | None = None
    message: str | None = None
    response: dict[str, Any] = field(default_factory=dict)
    #: The amount this answer moved (authorized, captured, refunded, paid out); None: nothing moved.
    amount: int | None = None
    #: Charge reference -> fields to write with the answer, in the same transaction.
    charge_writes: dict[str, dict[Any, str | int]] = field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "reference": self.reference,
            "code": self.code,
            "message": self.message,
            "response": self.response,
            "amount": self.amount,
        }


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _new_reference() -> str:
    return f"sbx_{secrets.token_hex(12)}"


def _declined(code_message: tuple[str, str], **response: Any) -> _Answer:
    """A refusal that created nothing (no reference): bad amount, unknown or unsuitable charge."""
    code, message = code_message
    return _Answer(ProcessorStatus.DECLINED, None, code, message, {"status": "declined", **response})


@contextmanager
def _reachable() -> Iterator[None]:
    """The acquirer's memory is unreachable: to the caller that is a transient processor fault."""
    try:
        yield
    except redis.RedisError as exc:
        raise ProcessorUnavailable(f"sandbox acquirer unreachable: {type(exc).__name__}") from exc


class SandboxProcessor:
    """The test-mode acquirer (see the module docstring). Thread-safe; one per process is enough."""

    name = "sandbox"

    def __init__(
        self, redis: RedisClient, *, config: SandboxConfig | None = None, clock: Clock = system_clock
    ) -> None:
        self.redis = redis
        self.config = config or SandboxConfig()
        self.clock = clock
        # Test data, not security: the dice of fault injection, seeded for reproducible runs.
        self._dice = random.Random(self.config.seed)  # noqa: S311
        self._dice_lock = threading.Lock()

    # -- the Processor interface -------------------------------------------------------------------

    @telemetry.traced("processor.authorize")
    def authorize(self, request: AuthorizationRequest) -> ProcessorResult:
        _check_request(request)
        raw_request = {
            "operation": "authorize",
            "idempotency_key": request.idempotency_key,
            "amount": request.amount,
            "currency": request.currency.upper(),
            "method": request.method,
            "capture": request.capture,
            "card": request.card_summary(),
            "cvc_provided": bool(request.cvc),
            "three_ds": request.three_ds,
            "three_ds_required": request.three_ds_required,
            "approval": request.approval,
            "bank": request.bank,
            "statement_descriptor": request.statement_descriptor,
        }
        self._network()
        with _reachable():
            if request.card is not None and _digits(request.card.pan) == TestCards.PROCESSOR_ERROR:
                attempts_key = self._key("attempts", _hash(request.idempotency_key))
                with self.redis.pipeline() as pipe:
                    pipe.incr(attempts_key)
                    pipe.expire(attempts_key, TTL_SECONDS)
                    attempts = int(pipe.execute()[0])
                if attempts == 1:
                    raise ProcessorUnavailable("sandbox acquirer error on the first attempt (test card 0119)")
            return self._once(
                "authorize",
                request.idempotency_key,
                params={"amount": request.amount, "currency": request.currency.upper()},
                raw_request=raw_request,
                watch=(),
                decide=lambda _: self._decide(request),
            )

    @telemetry.traced("processor.capture")
    def capture(self, *, idempotency_key: str, reference: str, amount: int, currency: str) -> ProcessorResult:
        def decide(pipe: Pipeline) -> _Answer:
            charge = self._charge(pipe, reference)
            echo: dict[str, Any] = {"charge": reference, "amount": amount, "currency": currency.upper()}
            refused = _check_charge(charge, reference, currency, amount, action="capture")
            if refused is not None:
                return _declined(refused, **echo)
            if amount > int(charge["authorized"]):
                return _declined(
                    ("amount_too_large", "The capture exceeds the authorized amount."),
                    authorized=int(charge["authorized"]),
                    **echo,
                )
            return _Answer(
                ProcessorStatus.CAPTURED,
                reference,
                response={"status": "captured", "captured": amount, **echo},
                amount=amount,
                charge_writes={reference: {"status": "captured", "captured": amount}},
            )

        params = {"reference": reference, "amount": amount, "currency": currency.upper()}
        return self._on_charge("capture", idempotency_key, reference=reference, params=params, decide=decide)

    @telemetry.traced("processor.cancel")
    def cancel(self, *, idempotency_key: str, reference: str) -> ProcessorResult:
        def decide(pipe: Pipeline) -> _Answer:
            charge = self._charge(pipe, reference)
            echo: dict[str, Any] = {"charge": reference}
            if charge:
                echo |= {"amount": int(charge["authorized"]), "currency": charge["currency"]}
            if charge.get("status") == "canceled":
                return _Answer(ProcessorStatus.CANCELED, reference, response={"status": "canceled", **echo})
            refused = _check_charge(charge, reference, None, None, action="cancel")
            if refused is not None:
                return _declined(refused, **echo)
            return _Answer(
                ProcessorStatus.CANCELED,
                reference,
                response={"status": "canceled", **echo},
                charge_writes={reference: {"status": "canceled"}},
            )

        params = {"reference": reference}
        return self._on_charge("cancel", idempotency_key, reference=reference, params=params, decide=decide)

    @telemetry.traced("processor.refund")
    def refund(self, *, idempotency_key: str, reference: str, amount: int, currency: str) -> ProcessorResult:
        def decide(pipe: Pipeline) -> _Answer:
            charge = self._charge(pipe, reference)
            echo: dict[str, Any] = {"charge": reference, "amount": amount, "currency": currency.upper()}
            refused = _check_charge(charge, reference, currency, amount, action="refund")
            if refused is not None:
                return _declined(refused, **echo)
            refunded = int(charge["refunded"])
            remaining = int(charge["captured"]) - refunded
            if amount > remaining:
                return _declined(
                    ("amount_too_large", "The refund exceeds what is left of the captured amount."),
                    refundable=remaining,
                    **echo,
                )
            if charge.get("refunds") == "declined":  # the refund-failure test card's charge
                return _declined(_REFUND_DECLINED, **echo)
            refund_reference = _new_reference()
            return _Answer(
                ProcessorStatus.REFUNDED,
                refund_reference,
                response={
                    "id": refund_reference,
                    "status": "refunded",
                    "refunded_total": refunded + amount,
                    **echo,
                },
                amount=amount,
                charge_writes={reference: {"refunded": refunded + amount}},
            )

        params = {"reference": reference, "amount": amount, "currency": currency.upper()}
        return self._on_charge("refund", idempotency_key, reference=reference, params=params, decide=decide)

    @telemetry.traced("processor.payout")
    def payout(
        self, *, idempotency_key: str, amount: int, currency: str, destination: str
    ) -> ProcessorResult:
        # The destination may be an IBAN: only its tail goes to the audit trail and the sandbox's memory.
        shown = f"****{destination[-4:]}"
        raw_request = {
            "operation": "payout",
            "idempotency_key": idempotency_key,
            "amount": amount,
            "currency": currency.upper(),
            "destination": shown,
        }

        def decide(pipe: Pipeline) -> _Answer:
            echo: dict[str, Any] = {"amount": amount, "currency": currency.upper(), "destination": shown}
            if amount <= 0:
                return _declined(_INVALID_AMOUNT, **echo)
            payout_reference = _new_reference()
            return _Answer(
                ProcessorStatus.PAID_OUT,
                payout_reference,
                response={"id": payout_reference, "status": "paid_out", **echo},
                amount=amount,
            )

        self._network()
        with _reachable():
            return self._once(
                "payout",
                idempotency_key,
                params={"amount": amount, "currency": currency.upper(), "destination": _hash(destination)},
                raw_request=raw_request,
                watch=(),
                decide=decide,
            )

    # -- what the sandbox remembers (tests and benchmarks assert on it) ----------------------------

    def charges(self, idempotency_key: str) -> int:
        """How many charges (authorized or captured) the sandbox ever created for this key: 0 or 1."""
        return self.operations("authorize", idempotency_key)

    def operations(self, kind: str, idempotency_key: str) -> int:
        """How many `kind` operations ("authorize", "capture", "cancel", "refund", "payout") took effect."""
        if kind not in OPERATIONS:
            raise ValueError(f"unknown operation {kind!r}; one of {', '.join(OPERATIONS)}")
        raw = self.redis.get(self._key("count", kind, _hash(idempotency_key)))
        return int(raw) if raw is not None else 0

    def charge(self, reference: str) -> dict[str, str]:
        """The sandbox's view of a charge (status, amounts, last4, brand); {} when unknown."""
        raw = self.redis.hgetall(self._charge_key(reference))
        return {_text(k): _text(v) for k, v in raw.items()}

    # -- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _key(*parts: str) -> str:
        return PREFIX + ":".join(parts)

    def _charge_key(self, reference: str) -> str:
        return self._key("charge", reference)

    def _charge(self, pipe: Pipeline, reference: str) -> dict[str, str]:
        raw = pipe.hgetall(self._charge_key(reference))  # immediate mode: the key is WATCHed
        return {_text(k): _text(v) for k, v in raw.items()}

    def _network(self) -> None:
        """Latency and injected faults, before anything is read or written: a fault leaves no trace."""
        config = self.config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        if not (config.fault_rate or config.timeout_rate):
            return
        with self._dice_lock:
            roll = self._dice.random()
        if roll < config.timeout_rate:
            raise ProcessorTimeout("sandbox acquirer timed out (injected fault)")
        if roll < config.timeout_rate + config.fault_rate:
            raise ProcessorUnavailable("sandbox acquirer answered 503 (injected fault)")

    def _on_charge(
        self,
        operation: str,
        idempotency_key: str,
        *,
        reference: str,
        params: dict[str, Any],
        decide: Callable[[Pipeline], _Answer],
    ) -> ProcessorResult:
        """Capture, cancel or refund the charge `reference`; `params` are the request's parameters. The
        charge's key is watched, so a concurrent change to the charge makes `_once` decide again."""
        raw_request = {"operation": operation, "idempotency_key": idempotency_key, **params}
        self._network()
        with _reachable():
            return self._once(
                operation,
                idempotency_key,
                params=params,
                raw_request=raw_request,
                watch=(self._charge_key(reference),),
                decide=decide,
            )

    def _once(
        self,
        operation: str,
        idempotency_key: str,
        *,
        params: dict[str, Any],
        raw_request: dict[str, Any],
        watch: tuple[str, ...],
        decide: Callable[[Pipeline], _Answer],
    ) -> ProcessorResult:
        """Replay the final answer stored for (operation, key), or decide one and store it atomically.

        WATCH makes the check and the write one step: if another call stores an answer for this key (or
        changes a watched charge) in between, EXEC fails and we look again, so a key gets exactly one
        final answer and a charge moves under one answer at a time. The answer is stored with `params`,
        the request's parameters: a later call under the key with other parameters is refused
        (`IdempotencyKeyReused`), never answered with the first call's answer.
        """
        key_hash = _hash(idempotency_key)
        result_key = self._key("result", operation, key_hash)
        count_key = self._key("count", operation, key_hash)
        for _ in range(_WATCH_RETRIES):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(result_key, *watch)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    existing = pipe.get(result_key)
                    if existing is not None:
                        return _replay(operation, json.loads(existing), params, raw_request)
                    answer = decide(pipe)
                    if not answer.status.is_final:
                        return _result(answer.stored(), False, raw_request)
                    pipe.multi()
                    pipe.set(result_key, json.dumps(answer.stored() | {"params": params}), ex=TTL_SECONDS)
                    for reference, fields in answer.charge_writes.items():
                        pipe.hset(self._charge_key(reference), mapping=fields)
                        pipe.expire(self._charge_key(reference), TTL_SECONDS)
                    if answer.status in _COUNTED:
                        pipe.incr(count_key)
                        pipe.expire(count_key, TTL_SECONDS)
                    pipe.execute()
                    return _result(answer.stored(), False, raw_request)
                except redis.WatchError:
                    continue
        raise ProcessorUnavailable("sandbox acquirer busy: too much contention on one idempotency key")

    def _decide(self, request: AuthorizationRequest) -> _Answer:
        currency = request.currency.upper()
        echo: dict[str, Any] = {"amount": request.amount, "currency": currency, "method": request.method}
        if request.method == "card":
            assert request.card is not None  # _check_request
            echo["card"] = {"brand": card_brand(request.card.pan), "last4": last4(request.card.pan)}
        # As an acquirer does: the descriptor it will put on the statement, or its own default (None).
        echo["statement_descriptor"] = request.statement_descriptor
        if request.amount <= 0:
            return _declined(_INVALID_AMOUNT, **echo)
        if request.statement_descriptor is not None and not descriptors.is_valid(
            request.statement_descriptor
        ):
            return _declined(_INVALID_DESCRIPTOR, **echo)
        card = request.method == "card"
        outcome = self._card_outcome(request) if card else _approval_outcome(request)
        if isinstance(outcome, ProcessorStatus):  # not final: nothing is created or remembered
            if outcome is ProcessorStatus.REQUIRES_ACTION:
                code, message = "authentication_required", "Confirm the payment with your bank (3-D Secure)."
            else:
                code, message = "approval_required", f"Approve the payment in your {request.method}."
            return _Answer(outcome, None, code, message, {"status": str(outcome), **echo})
        reference = _new_reference()
        charge: dict[str, str | int] = {
            "currency": currency,
            "method": request.method,
            "authorized": request.amount,
            "captured": 0,
            "refunded": 0,
            "created": self.clock.now().isoformat(),
        }
        if request.card is not None:
            charge |= {"brand": card_brand(request.card.pan), "last4": last4(request.card.pan)}
            if _digits(request.card.pan) == TestCards.REFUND_FAILS:
                charge["refunds"] = "declined"  # remembered with the charge: the refund call has no card
        if request.statement_descriptor is not None:
            charge["statement_descriptor"] = request.statement_descriptor
        echo |= {"id": reference, "created": charge["created"]}
        if outcome is not None:
            return _Answer(
                ProcessorStatus.DECLINED,
                reference,
                *outcome,
                response={"status": "declined", "decline_code": outcome[0], **echo},
                charge_writes={reference: {**charge, "status": "declined"}},
            )
        if request.capture:
            status, captured = ProcessorStatus.CAPTURED, request.amount
        else:
            status, captured = ProcessorStatus.AUTHORIZED, 0
        return _Answer(
            status,
            reference,
            response={"status": str(status), "captured": captured, **echo},
            amount=request.amount,
            charge_writes={reference: {**charge, "status": str(status), "captured": captured}},
        )

    def _card_outcome(self, request: AuthorizationRequest) -> tuple[str, str] | ProcessorStatus | None:
        """None: approved; (code, message): declined; a status: the shopper must act first."""
        assert request.card is not None  # _check_request
        number = _digits(request.card.pan)
        if not luhn_valid(number):
            return _INCORRECT_NUMBER
        if number in _DECLINES:
            return _DECLINES[number]
        now = self.clock.now()
        year = request.card.exp_year + 2000 if request.card.exp_year < 100 else request.card.exp_year
        if (year, request.card.exp_month) < (now.year, now.month):
            return _EXPIRED
        if number == TestCards.THREE_DS or request.three_ds_required:
            if request.three_ds is None:
                return ProcessorStatus.REQUIRES_ACTION
            if request.three_ds != "passed":
                return _AUTHENTICATION_FAILED
        return None


def _approval_outcome(request: AuthorizationRequest) -> tuple[str, str] | ProcessorStatus | None:
    if request.approval is None:
        return ProcessorStatus.PENDING_APPROVAL
    if request.approval == "declined":
        return ("payment_declined", f"The payment was declined in your {request.method}.")
    return None


def _digits(pan: str) -> str:
    return "".join(c for c in pan if not c.isspace() and c != "-")


def _check_request(request: AuthorizationRequest) -> None:
    """Programming errors, not declines: the worker must never send these."""
    if request.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {request.method!r}")
    if request.method == "card" and request.card is None:
        raise ValueError("a card authorization needs the card")
    if request.three_ds not in (None, "passed", "failed"):
        raise ValueError(f"three_ds must be None, 'passed' or 'failed'; got {request.three_ds!r}")
    if request.approval not in (None, "approved", "declined"):
        raise ValueError(f"approval must be None, 'approved' or 'declined'; got {request.approval!r}")
    if not request.idempotency_key:
        raise ValueError("an idempotency key is required")


def _check_charge(
    charge: Mapping[str, str], reference: str, currency: str | None, amount: int | None, *, action: str
) -> tuple[str, str] | None:
    """Why `charge` cannot be captured or canceled (it must be authorized) or refunded (captured)."""
    if not charge:
        return ("charge_not_found", f"No such charge: {reference}.")
    if currency is not None and currency.upper() != charge["currency"]:
        return ("currency_mismatch", f"The charge is in {charge['currency']}, not {currency.upper()}.")
    if amount is not None and amount <= 0:
        return _INVALID_AMOUNT
    status = charge["status"]
    if status == ("captured" if action == "refund" else "authorized"):
        return None
    if action != "refund" and status == "captured":
        return ("charge_already_captured", "This charge has already been captured.")
    if action == "refund" and status == "authorized":
        return ("charge_not_captured", "This charge is authorized but not captured: cancel it instead.")
    adjective = {"capture": "capturable", "cancel": "cancelable", "refund": "refundable"}[action]
    return (f"charge_not_{adjective}", f"This charge is {status}: it is not {adjective}.")


def _result(stored: Mapping[str, Any], replayed: bool, raw_request: dict[str, Any]) -> ProcessorResult:
    response = dict(stored["response"])
    if replayed:
        response["idempotent_replayed"] = True
    return ProcessorResult(
        status=ProcessorStatus(stored["status"]),
        reference=stored["reference"],
        code=stored["code"],
        message=stored["message"],
        amount=_amount_of(stored),
        raw_request=raw_request,
        raw_response=response,
    )


def _amount_of(stored: Mapping[str, Any]) -> int | None:
    if "amount" in stored:
        return stored["amount"]  # type: ignore[no-any-return]
    # An answer stored before amounts were: a money-moving one echoes the amount it moved.
    moved = stored["status"] in {str(s) for s in _COUNTED - {ProcessorStatus.CANCELED}}
    amount = stored["response"].get("amount") if moved else None
    return amount if isinstance(amount, int) else None


def _replay(
    operation: str, stored: Mapping[str, Any], params: Mapping[str, Any], raw_request: dict[str, Any]
) -> ProcessorResult:
    """The stored answer for a repeated call, or `IdempotencyKeyReused` when the call is another request."""
    first = stored.get("params", params)  # an answer stored before parameters were kept: as it stands
    if first == params:
        return _result(stored, True, raw_request)
    differ = ", ".join(
        f"{name} {first.get(name)!r} then {params.get(name)!r}"
        for name in params
        if first.get(name) != params.get(name)
    )
    original = _result(stored, True, {"operation": operation, **first})
    raise IdempotencyKeyReused(
        f"Keys for idempotent requests can only be used with the same parameters they were first used "
        f"with ({operation}: {differ}); nothing was done for this request.",
        original=original,
    )
