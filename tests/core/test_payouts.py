"""Payouts: balance transactions, settlement T+N, schedules, the payout lifecycle, disputes, reserves and
reconciliation, against the real database; money is exact to the minor unit in every currency."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text

from core.audit.models import AuditEvent
from core.clock import Clock, FrozenClock
from core.context import Actor, ActorType, Context
from core.db import KassaSession
from core.disputes import service as disputes
from core.disputes.models import DisputeStatus
from core.errors import Conflict, InvalidInput
from core.events.models import Event
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.ledger.models import Account, BalanceTransaction, Entry, TxnStatus, TxnType
from core.payouts import bank_accounts, reconciliation
from core.payouts import service as payouts
from core.payouts.models import BankAccount, Payout, PayoutStatus
from tenants.service import create_tenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.smtp_server import SmtpServer

GOOD_IBAN = "DE89370400440532013000"
FAILING_IBAN = "DE82370400440532013999"
_slugs = itertools.count(1)
DB_EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


_open = threading.local()


class _CurrentSink:
    """Writes jobs into the outbox of the unit of work `_tx` opened last in this thread."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def enqueue(self, func: Any, *, tenant_id: str | None, kwargs: dict[str, Any], delay: Any = None) -> None:
        self.rt.sink(_open.uow).enqueue(func, tenant_id=tenant_id, kwargs=kwargs, delay=delay)


def _ctx(rt: Runtime, clock: Clock) -> Context:
    """The call edge at the test's clock, for whichever unit of work `_tx` has open."""
    return Context(
        actor=Actor.system("test"),
        clock=clock,
        kms=rt.kms,
        jobs=_CurrentSink(rt),
        redis=rt.redis,
        base_url=rt.settings.base_url,
    )


@contextmanager
def _tx(rt: Runtime, tenant_id: str) -> Iterator[KassaSession]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        _open.uow = uow
        yield uow.session


def _tenant(rt: Runtime) -> str:
    with rt.db.unit_of_work() as uow:
        tenant, _ = create_tenant(
            uow.session,
            rt.context(uow, Actor.system("test")),
            name="Payout shop",
            slug=f"payout-{next(_slugs)}-{new_id('ten')[-6:]}",
            country="DE",
            currency="EUR",
        )
    return tenant.id


def _bank(
    rt: Runtime, tenant_id: str, clock: Clock, iban: str = GOOD_IBAN, currency: str = "EUR"
) -> BankAccount:
    with _tx(rt, tenant_id) as session:
        return bank_accounts.add_bank_account(
            session,
            _ctx(rt, clock),
            tenant_id=tenant_id,
            currency=currency,
            account_holder="Shop GmbH",
            details=bank_accounts.validate(country=iban[:2], iban=iban),
            requested_by=None,
        )


def _capture(
    rt: Runtime, tenant_id: str, clock: Clock, amount: int, currency: str = "EUR", at_once: bool = False
) -> str:
    pay_id = new_id("pay")
    with _tx(rt, tenant_id) as session:
        ledger.record_capture(
            session,
            tenant_id=tenant_id,
            payment_id=pay_id,
            amount=amount,
            currency=currency,
            clock=clock,
            available_at_once=at_once,
        )
    return pay_id


def _balances(rt: Runtime, tenant_id: str) -> dict[str, dict[str, int]]:
    with _tx(rt, tenant_id) as session:
        got = ledger.balances(session, tenant_id=tenant_id).as_dict()
    return {kind: {str(b["currency"]): int(b["amount"]) for b in rows} for kind, rows in got.items()}


# --- settlement -----------------------------------------------------------------------------------


def test_settlement_date_counts_business_days_only() -> None:
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert ledger.settlement_date(friday, 2) == datetime(2026, 12, 1, tzinfo=UTC)  # Tuesday
    assert ledger.settlement_date(friday, 0) == datetime(2026, 11, 27, tzinfo=UTC)
    assert ledger.add_business_days(date(2026, 11, 28), 1) == date(2026, 11, 30)  # Saturday -> Monday


def test_a_capture_is_pending_until_t_plus_n_then_available(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # a Friday
    t = _tenant(clean)
    with _tx(clean, t) as session:
        ledger.set_settlement_terms(session, tenant_id=t, clock=clock, delay_days=3)
    pay = _capture(clean, t, clock, 10_000)
    with _tx(clean, t) as session:
        txn = session.scalars(select(BalanceTransaction).where(BalanceTransaction.source_id == pay)).one()
        assert (txn.type, txn.amount, txn.fee, txn.net, txn.status) == (
            TxnType.CHARGE,
            10_000,
            165,
            9_835,
            TxnStatus.PENDING,
        )
        assert txn.available_on == datetime(2026, 12, 2, tzinfo=UTC)  # Wednesday: T+3 business days
    clock.advance(days=4, hours=8)  # Tuesday 23:00
    with _tx(clean, t) as session:
        assert ledger.settle_due(session, tenant_id=t, clock=clock) == 0
    clock.advance(hours=1)
    with _tx(clean, t) as session:
        assert ledger.settle_due(session, tenant_id=t, clock=clock) == 1
    assert _balances(clean, t)["available"] == {"EUR": 9_835}
    assert _balances(clean, t)["pending"] == {"EUR": 0}


def test_the_instant_test_card_is_available_at_once(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    t = _tenant(clean)
    _capture(clean, t, clock, 10_000, at_once=True)
    assert _balances(clean, t)["available"] == {"EUR": 9_835}


# --- schedules and the payout lifecycle -----------------------------------------------------------


def test_weekly_schedule_pays_on_its_weekday_only_what_is_available_and_respects_the_minimum(
    clean: Runtime,
) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # Monday
    t = _tenant(clean)
    ctx = _ctx(clean, clock)
    _bank(clean, t, clock)
    with _tx(clean, t) as session:
        payouts.set_schedule(
            session,
            ctx,
            tenant_id=t,
            currency="EUR",
            interval="weekly",
            weekly_anchor=3,
            minimum_amount=5_000,
        )  # Thursdays, at least 50 EUR
    _capture(clean, t, clock, 10_000)  # available Wednesday (T+2)
    clock.advance(days=2)  # Wednesday: available, but not Thursday
    with _tx(clean, t) as session:
        assert payouts.run_scheduled(session, ctx, tenant_id=t) == []
    _capture(clean, t, clock, 20_000)  # Wednesday's capture: available Friday, not in Thursday's payout
    clock.advance(days=1)  # Thursday
    with _tx(clean, t) as session:
        made = payouts.run_scheduled(session, ctx, tenant_id=t)
        assert [p.amount for p in made] == [9_835]
        po = made[0]
        lines = payouts.transactions_of(session, tenant_id=t, payout_id=po.id)
        assert sum(line.net for line in lines) == po.amount
        assert payouts.run_scheduled(session, ctx, tenant_id=t) == []  # the same day again: nothing
    # Next Thursday: 20000 - 305 is available; a refund of 16000 leaves 3695, under the minimum.
    clock.advance(days=1)
    with _tx(clean, t) as session:
        ledger.record_refund(
            session, tenant_id=t, refund_id=new_id("re"), amount=16_000, currency="EUR", clock=clock
        )
    clock.advance(days=6)
    with _tx(clean, t) as session:
        assert payouts.run_scheduled(session, ctx, tenant_id=t) == []
        assert payouts.available_for_payout(session, tenant_id=t, currency="EUR") == 20_000 - 305 - 16_000


def test_a_failed_payout_returns_the_funds_to_available_and_the_next_payout_pays_them(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    ctx = _ctx(clean, clock)
    _bank(clean, t, clock, iban=FAILING_IBAN)
    _capture(clean, t, clock, 10_000, at_once=True)
    with _tx(clean, t) as session:
        po = payouts.run_scheduled(session, ctx, tenant_id=t)[0]
        po_id = po.id
        assert payouts.advance(session, ctx, tenant_id=t) == 1
    assert _balances(clean, t)["in_transit"] == {"EUR": 9_835}
    assert _balances(clean, t)["available"] == {"EUR": 0}
    clock.advance(minutes=2)
    with _tx(clean, t) as session:
        payouts.advance(session, ctx, tenant_id=t)
        failed = payouts.get(session, tenant_id=t, payout_id=po_id)
        assert (failed.status, failed.failure_code) == (PayoutStatus.FAILED, "account_closed")
        types = [
            e.type
            for e in session.scalars(select(Event).where(Event.object_id == po_id).order_by(Event.sequence))
        ]
        assert types == ["payout.created", "payout.failed"]
    assert _balances(clean, t)["available"] == {"EUR": 9_835}
    assert _balances(clean, t)["in_transit"] == {"EUR": 0}
    _bank(clean, t, clock, iban=GOOD_IBAN)
    clock.advance(days=1)
    with _tx(clean, t) as session:
        again = payouts.run_scheduled(session, ctx, tenant_id=t)[0]
        assert again.amount == 9_835
        payouts.advance(session, ctx, tenant_id=t)
    clock.advance(minutes=2)
    with _tx(clean, t) as session:
        payouts.advance(session, ctx, tenant_id=t)
        assert payouts.get(session, tenant_id=t, payout_id=again.id).status is PayoutStatus.PAID
    assert _balances(clean, t)["in_transit"] == {"EUR": 0}
    assert _balances(clean, t)["available"] == {"EUR": 0}


def test_a_manual_payout_of_part_of_the_balance_carries_the_rest(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    ctx = _ctx(clean, clock)
    _bank(clean, t, clock)
    _capture(clean, t, clock, 10_000, at_once=True)
    with _tx(clean, t) as session, pytest.raises(Conflict, match=r"Only 98\.35"):
        payouts.create_payout(session, ctx, tenant_id=t, currency="EUR", amount=9_836)
    with _tx(clean, t) as session:
        po = payouts.create_payout(
            session, ctx, tenant_id=t, currency="EUR", amount=4_000, created_by="usr_x"
        )
        assert po is not None and po.method == "manual"
        assert sum(x.net for x in payouts.transactions_of(session, tenant_id=t, payout_id=po.id)) == 4_000
        assert payouts.available_for_payout(session, tenant_id=t, currency="EUR") == 5_835
    assert _balances(clean, t)["available"] == {"EUR": 5_835}


def test_a_manual_payout_without_a_bank_account_is_refused(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    with _tx(clean, t) as session, pytest.raises(Conflict, match="bank account"):
        payouts.create_payout(session, _ctx(clean, clock), tenant_id=t, currency="EUR", amount=100)


@pytest.mark.postgres
def test_two_payout_jobs_started_together_create_one_payout(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    _bank(clean, t, clock)
    for _ in range(5):
        _capture(clean, t, clock, 10_000, at_once=True)
    barrier = threading.Barrier(2)
    made: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with _tx(clean, t) as session:
                barrier.wait(timeout=10)
                made.append(len(payouts.run_scheduled(session, _ctx(clean, clock), tenant_id=t)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(made) == [0, 1]
    with _tx(clean, t) as session:
        rows = session.scalars(select(Payout)).all()
        assert [p.amount for p in rows] == [5 * 9_835]


# --- bank accounts --------------------------------------------------------------------------------


def test_bank_account_validation_gives_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="not a valid IBAN") as bad:
        bank_accounts.validate(country="DE", iban="DE89370400440532013001")
    assert "0532013001" not in str(bad.value)
    with pytest.raises(InvalidInput, match="another country"):
        bank_accounts.validate(country="FR", iban=GOOD_IBAN)
    with pytest.raises(InvalidInput, match="routing"):
        bank_accounts.validate(country="US", account_number="000123456789", routing_number="123456789")
    local = bank_accounts.validate(country="US", account_number="000123456789", routing_number="110000000")
    assert (local.kind, local.routing) == ("local", "110000000")
    assert bank_accounts.validate(country="DE", iban="de89 3704 0044 0532 0130 00").number == GOOD_IBAN


@pytest.mark.postgres
def test_bank_account_numbers_never_appear_in_plaintext_in_the_database_or_logs(
    clean: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    account = _bank(clean, t, clock)
    assert bank_accounts.mask(account.last4) == "•••• 3000"
    engine = create_engine(_admin_url())
    with engine.connect() as conn:
        tables = [
            r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        ]
        assert "bank_accounts" in tables
        for table in tables:
            dump = "\n".join(str(r[0]) for r in conn.execute(text(f'SELECT t::text FROM "{table}" t')))
            assert "0532013000" not in dump, table
            # bytea columns print as hex: the number's hex must not be there either
            assert b"0532013000".hex() not in dump, table
    engine.dispose()
    assert "0532013000" not in caplog.text


def _admin_url() -> str:
    import os

    url = os.environ.get("DATABASE_ADMIN_URL", "")
    if not url:
        pytest.fail("DATABASE_ADMIN_URL is needed to read every tenant's rows")
    return url


def test_a_bank_account_change_needing_approval_waits_for_a_second_person(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    first = _bank(clean, t, clock)
    with _tx(clean, t) as session:
        alice = replace(_ctx(clean, clock), actor=Actor(type=ActorType.USER, id="usr_alice"))
        bob = replace(_ctx(clean, clock), actor=Actor(type=ActorType.USER, id="usr_bob"))
        new = bank_accounts.add_bank_account(
            session,
            alice,
            tenant_id=t,
            currency="EUR",
            account_holder="Shop GmbH",
            details=bank_accounts.validate(country="DE", iban="DE14370400440000000002"),
            requested_by="usr_alice",
            needs_approval=True,
        )
        assert bank_accounts.active_account(session, tenant_id=t, currency="EUR").id == first.id  # type: ignore[union-attr]
        with pytest.raises(Conflict, match="second person"):
            bank_accounts.approve_bank_account(session, alice, tenant_id=t, bank_account_id=new.id)
        bank_accounts.approve_bank_account(session, bob, tenant_id=t, bank_account_id=new.id)
        assert bank_accounts.active_account(session, tenant_id=t, currency="EUR").id == new.id  # type: ignore[union-attr]


# --- disputes -------------------------------------------------------------------------------------


def test_a_disputed_test_payment_takes_amount_and_fee_and_a_won_dispute_returns_them(
    make: Factories, clean: Runtime
) -> None:
    t = make.tenants()
    payment = make.payments(tenant=t, amount=10_000, card_number="4000 0000 0000 0259")
    clock = FrozenClock(datetime.now(UTC) + timedelta(minutes=1))
    ctx = _ctx(clean, clock)
    before = _balances(clean, t.id)
    with _tx(clean, t.id) as session:
        [dispute] = disputes.open_sandbox_disputes(session, ctx, tenant_id=t.id)
        assert disputes.open_sandbox_disputes(session, ctx, tenant_id=t.id) == []
        dp_id = dispute.id
        assert (dispute.payment_id, dispute.amount, dispute.status) == (
            payment.id,
            10_000,
            DisputeStatus.NEEDS_RESPONSE,
        )
    after = _balances(clean, t.id)
    assert (
        after["available"].get("EUR", 0) == before["available"].get("EUR", 0) - 10_000 - disputes.DISPUTE_FEE
    )
    with _tx(clean, t.id) as session, pytest.raises(InvalidInput, match="not a PDF"):
        disputes.submit_evidence(
            session, ctx, tenant_id=t.id, dispute_id=dp_id, fields={}, files=[("x.exe", b"MZ\x90\x00")]
        )
    with _tx(clean, t.id) as session:
        disputes.submit_evidence(
            session,
            ctx,
            tenant_id=t.id,
            dispute_id=dp_id,
            fields={"uncategorized_text": "Delivered, signed for."},
            files=[("../receipt.pdf", b"%PDF-1.4 test")],
        )
        assert [f.filename for f in disputes.files_of(session, tenant_id=t.id, dispute_id=dp_id)] == [
            "receipt.pdf"
        ]
        [closed] = disputes.decide(session, ctx, tenant_id=t.id)
        assert closed.status is DisputeStatus.WON
    assert _balances(clean, t.id)["available"] == before["available"] or (
        _balances(clean, t.id)["available"].get("EUR", 0) == before["available"].get("EUR", 0)
    )
    with _tx(clean, t.id) as session:
        types = [
            e.type
            for e in session.scalars(select(Event).where(Event.object_id == dp_id).order_by(Event.sequence))
        ]
        assert types == ["dispute.created", "dispute.updated", "dispute.closed"]
        actions = [
            a.action for a in session.scalars(select(AuditEvent).where(AuditEvent.subject_id == dp_id))
        ]
        assert actions == ["dispute.created", "dispute.evidence.submitted", "dispute.closed"]


# --- reconciliation -------------------------------------------------------------------------------


def test_a_settlement_file_with_one_altered_amount_gives_exactly_one_difference(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    ctx = _ctx(clean, clock)
    refs = [_capture(clean, t, clock, amount) for amount in (1_000, 2_000, 3_000)]
    with _tx(clean, t) as session:
        ledger.record_refund(
            session, tenant_id=t, refund_id=new_id("re"), amount=500, currency="EUR", clock=clock
        )
        clean_file = reconciliation.sandbox_settlement_file(session, tenant_id=t, day=clock.now().date())
        assert (
            reconciliation.reconcile(
                session, ctx, tenant_id=t, day=clock.now().date(), text=clean_file
            ).differences
            == 0
        )
        altered = clean_file.replace(f"capture,{refs[1]},EUR,2000", f"capture,{refs[1]},EUR,2001")
        assert altered != clean_file
        run = reconciliation.reconcile(session, ctx, tenant_id=t, day=clock.now().date(), text=altered)
        [diff] = reconciliation.differences_of(session, tenant_id=t, run_id=run.id)
        assert (
            run.differences,
            run.matched,
            diff.kind,
            diff.reference_id,
            diff.file_amount,
            diff.ledger_amount,
        ) == (1, 3, "amount_mismatch", refs[1], 2_001, 2_000)


def test_a_malformed_settlement_file_is_a_clear_error(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    with _tx(clean, t) as session, pytest.raises(InvalidInput, match="header"):
        reconciliation.reconcile(
            session, _ctx(clean, clock), tenant_id=t, day=clock.now().date(), text="x,y\n"
        )


# --- reserves -------------------------------------------------------------------------------------


def test_a_rolling_reserve_holds_its_share_until_the_release_date(clean: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    t = _tenant(clean)
    with _tx(clean, t) as session:
        ledger.set_settlement_terms(
            session,
            tenant_id=t,
            clock=clock,
            reserve_bps=1_000,
            reserve_days=30,
            reserve_reason="dispute rate above 1 %",
            reserve_source="risk",
        )
    _capture(clean, t, clock, 10_000, at_once=True)
    assert _balances(clean, t)["available"] == {"EUR": 9_835 - 984}
    assert _balances(clean, t)["reserved"] == {"EUR": 984}
    clock.advance(days=30)
    with _tx(clean, t) as session:
        ledger.settle_due(session, tenant_id=t, clock=clock)
    assert _balances(clean, t)["available"] == {"EUR": 9_835}
    assert _balances(clean, t)["reserved"] == {"EUR": 0}


# --- the money properties -------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("capture"), st.integers(1, 500_000), st.sampled_from(["EUR", "JPY", "KWD"]), st.booleans()
        ),
        st.tuples(st.just("refund"), st.integers(1, 100), st.integers(0, 50)),
        st.tuples(st.just("days"), st.integers(1, 4)),
        st.tuples(st.just("payout"), st.sampled_from(["EUR", "JPY", "KWD"])),
        st.tuples(st.just("bank"), st.integers(0, 3)),
        st.tuples(st.just("dispute"), st.integers(0, 50), st.sampled_from(["won", "lost", "open"])),
        st.tuples(st.just("reserve"), st.integers(0, 2_000)),
    ),
    min_size=1,
    max_size=14,
)


@DB_EXAMPLES
@given(ops=OPS)
def test_money_is_exact_over_random_payments_refunds_payouts_failures_and_disputes(
    clean: Runtime, ops: list[tuple[object, ...]]
) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    ctx = _ctx(clean, clock)
    t = _tenant(clean)
    for currency in ("EUR", "JPY", "KWD"):
        _bank(clean, t, clock, iban=GOOD_IBAN, currency=currency)
    captures: list[tuple[str, int, str, int]] = []  # (id, amount, currency, refundable left)
    refunds: dict[str, int] = defaultdict(int)
    dispute_loss: dict[str, int] = defaultdict(int)
    for op in ops:
        kind = op[0]
        with _tx(clean, t) as session:
            if kind == "capture":
                _, amount, currency, at_once = op
                pay = new_id("pay")
                ledger.record_capture(
                    session,
                    tenant_id=t,
                    payment_id=pay,
                    amount=int(amount),
                    currency=str(currency),
                    clock=clock,
                    available_at_once=bool(at_once),
                )
                captures.append((pay, int(amount), str(currency), int(amount)))
            elif kind == "refund" and captures:
                _, pct, index = op
                pay, amount, currency, left = captures[int(index) % len(captures)]
                value = min(left, max(1, amount * int(pct) // 100))
                if value > 0:
                    ledger.record_refund(
                        session,
                        tenant_id=t,
                        refund_id=new_id("re"),
                        amount=value,
                        currency=currency,
                        clock=clock,
                    )
                    refunds[currency] += value
                    i = captures.index((pay, amount, currency, left))
                    captures[i] = (pay, amount, currency, left - value)
            elif kind == "days":
                clock.advance(days=int(op[1]))
                payouts.advance(session, ctx, tenant_id=t)
                ledger.settle_due(session, tenant_id=t, clock=clock)
            elif kind == "payout":
                payouts.run_scheduled(session, ctx, tenant_id=t)
                payouts.advance(session, ctx, tenant_id=t)
            elif kind == "bank":
                iban = (GOOD_IBAN, FAILING_IBAN)[int(op[1]) % 2]
                for currency in ("EUR", "JPY", "KWD"):
                    bank_accounts.add_bank_account(
                        session,
                        ctx,
                        tenant_id=t,
                        currency=currency,
                        account_holder="Shop",
                        details=bank_accounts.validate(country="DE", iban=iban),
                        requested_by=None,
                    )
            elif kind == "dispute" and captures:
                _, index, outcome = op
                pay, amount, currency, left = captures[int(index) % len(captures)]
                if left > 0:
                    dp = new_id("dp")
                    fee = 1_500 if currency != "JPY" else 15
                    ledger.record_dispute(
                        session,
                        tenant_id=t,
                        dispute_id=dp,
                        amount=left,
                        fee=fee,
                        currency=currency,
                        clock=clock,
                    )
                    captures[captures.index((pay, amount, currency, left))] = (pay, amount, currency, 0)
                    if outcome == "won":
                        ledger.record_dispute_reversal(
                            session,
                            tenant_id=t,
                            dispute_id=dp,
                            amount=left,
                            fee=fee,
                            currency=currency,
                            clock=clock,
                        )
                    else:
                        dispute_loss[currency] += left
            elif kind == "reserve":
                ledger.set_settlement_terms(
                    session, tenant_id=t, clock=clock, reserve_bps=int(op[1]), reserve_days=3
                )
    _check_invariants(clean, t, captures, refunds, dispute_loss)


def _check_invariants(
    rt: Runtime,
    t: str,
    captures: list[tuple[str, int, str, int]],
    refunds: dict[str, int],
    dispute_loss: dict[str, int],
) -> None:
    with _tx(rt, t) as session:
        totals: dict[str, int] = defaultdict(int)
        for e in session.scalars(select(Entry)):
            totals[e.currency] += e.amount
        assert all(v == 0 for v in totals.values()), totals  # the ledger balances per currency
        txns = list(session.scalars(select(BalanceTransaction)))
        paid: dict[str, int] = defaultdict(int)
        for po in session.scalars(select(Payout)):
            contained = [x for x in txns if x.payout_id == po.id and x.type is not TxnType.PAYOUT]
            assert sum(x.net for x in contained) == po.amount  # a payout is the sum of its transactions
            if po.status is PayoutStatus.PAID:
                paid[po.currency] += po.amount
        owed = ledger.balances(session, tenant_id=t).as_dict()
        for currency in {c for _, _, c, _ in captures}:

            def bal(kind: str, currency: str = currency) -> int:
                return sum(int(b["amount"]) for b in owed[kind] if b["currency"] == currency)

            captured = sum(a for _, a, c, _ in captures if c == currency)
            # Capture fees plus the fees of disputes not won.
            fees = -ledger.account_balance(session, tenant_id=t, account=Account.FEES, currency=currency)
            # Money is exact: captured - refunds - fees - disputes lost (or open) - payouts paid
            #                 = available + pending + reserved + in transit, to the minor unit.
            assert captured - refunds[currency] - fees - dispute_loss[currency] - paid[currency] == (
                bal("available") + bal("pending") + bal("reserved") + bal("in_transit")
            )
            mine = [x for x in txns if x.currency == currency]
            assert bal("available") == sum(x.net for x in mine if x.status is TxnStatus.AVAILABLE)
            assert bal("pending") == sum(x.net for x in mine if x.held_in is Account.MERCHANT_PENDING)
            assert bal("reserved") == sum(x.net for x in mine if x.held_in is Account.MERCHANT_RESERVED)


def test_a_bank_account_change_mails_the_owners_through_the_outbox_masked(
    make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    from core.jobs.outbox import OutboxMessage

    tenant = make.tenants()
    clock = FrozenClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    account = _bank(clean, tenant.id, clock)
    with _tx(clean, tenant.id) as session:
        jobs = session.scalars(
            select(OutboxMessage).where(OutboxMessage.job == bank_accounts.NOTIFY_JOB)
        ).all()
        assert [j.kwargs for j in jobs] == [
            {"tenant_id": tenant.id, "bank_account_id": account.id, "status": "active"}
        ]
        assert bank_accounts.owner_emails(session, tenant_id=tenant.id) == [tenant.owner_email]
    work(clean)  # the real worker runs the job from the outbox and mails through a real SMTP server
    work(clean)  # a second pass sends nothing more
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.recipients == [tenant.owner_email]
    body = delivery.text("plain")
    assert "•••• 3000" in body
    assert "0532013000" not in body and "0532013000" not in str(delivery.message["Subject"])
    assert len(mail_to_smtp.inbox.wait_for(1)) == 1
