"""The double-entry ledger: balanced journals, exactly once, fees, balances, and money conserved."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core import ledger
from core.clock import FrozenClock
from core.context import Actor
from core.db import KassaSession
from core.errors import Conflict, InvalidInput
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.ledger import Account, Entry, FeeTerms, Journal, Line, UnbalancedJournal
from core.ledger.service import compute_fee
from tenants.service import create_tenant
from tests.fixtures import Factories

CURRENCIES = ("EUR", "JPY", "KWD", "USD")
_slugs = itertools.count(1)
CLOCK = FrozenClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
DB_EXAMPLES = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextmanager
def _tx(rt: Runtime, tenant_id: str) -> Iterator[KassaSession]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        yield uow.session


def _bare_tenant(rt: Runtime) -> str:
    """A tenant without an owner: hypothesis makes one per example, and hashing an owner's password
    (argon2, ~0.1 s) would be most of the run time."""
    with rt.db.unit_of_work() as uow:
        tenant, _ = create_tenant(
            uow.session,
            rt.context(uow, Actor.system("test")),
            name="Ledger property shop",
            slug=f"ledger-{next(_slugs)}",
            country="DE",
            currency="EUR",
        )
    return tenant.id


def _all_entries(rt: Runtime, tenant_id: str) -> list[Entry]:
    with _tx(rt, tenant_id) as session:
        return list(session.scalars(select(Entry)))


def _journal_count(rt: Runtime, tenant_id: str) -> int:
    with _tx(rt, tenant_id) as session:
        return int(session.scalar(select(func.count()).select_from(Journal)) or 0)


def _capture(
    rt: Runtime, tenant_id: str, amount: int, currency: str = "EUR", payment_id: str = ""
) -> Journal:
    with _tx(rt, tenant_id) as session:
        return ledger.record_capture(
            session,
            tenant_id=tenant_id,
            payment_id=payment_id or new_id("pay"),
            amount=amount,
            currency=currency,
            clock=CLOCK,
        )


def _balance(rt: Runtime, tenant_id: str, account: Account, currency: str = "EUR") -> int:
    with _tx(rt, tenant_id) as session:
        return ledger.account_balance(session, tenant_id=tenant_id, account=account, currency=currency)


# --- fees -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (10_000, 140 + 25),  # 1.40 % of 100.00 + 0.25
        (1_250, 18 + 25),  # 17.5 rounds half up to 18
        (1_249, 17 + 25),  # 17.486 rounds down
        (1_821, 25 + 25),  # 25.494
        (30, 25),
        (20, 20),  # never more than the payment itself
        (1, 1),
    ],
)
def test_default_fee_is_1_40_percent_plus_25_minor_units(amount: int, fee: int) -> None:
    assert compute_fee(amount, FeeTerms(ledger.DEFAULT_PERCENT_BPS, ledger.DEFAULT_FIXED_AMOUNT)) == fee


@given(
    amount=st.integers(min_value=1, max_value=10**12 - 1),
    bps=st.integers(min_value=0, max_value=10_000),
    fixed=st.integers(min_value=0, max_value=10_000),
)
def test_fee_rounds_half_up_and_never_exceeds_the_amount(amount: int, bps: int, fixed: int) -> None:
    exact = (Decimal(amount) * bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    fee = compute_fee(amount, FeeTerms(bps, fixed))
    assert fee == min(int(exact) + fixed, amount)
    assert 0 <= fee <= amount


def test_tenant_pricing_overrides_the_default_per_currency(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    with _tx(clean, t.id) as session:
        assert ledger.fee_for(session, tenant_id=t.id, amount=10_000, currency="USD") == 165
        ledger.set_pricing(session, tenant_id=t.id, percent_bps=290, fixed_amount=30, clock=CLOCK)
        ledger.set_pricing(
            session, tenant_id=t.id, percent_bps=100, fixed_amount=0, currency="jpy", clock=CLOCK
        )
    with _tx(clean, t.id) as session:
        assert ledger.fee_for(session, tenant_id=t.id, amount=10_000, currency="USD") == 290 + 30
        assert ledger.fee_for(session, tenant_id=t.id, amount=10_000, currency="JPY") == 100
        ledger.set_pricing(session, tenant_id=t.id, percent_bps=0, fixed_amount=10, clock=CLOCK)
    with _tx(clean, t.id) as session:
        assert ledger.fee_for(session, tenant_id=t.id, amount=10_000, currency="USD") == 10
    other = make.tenants()
    with _tx(clean, other.id) as session:  # one tenant's terms are not another's
        assert ledger.fee_for(session, tenant_id=other.id, amount=10_000, currency="USD") == 165


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"percent_bps": 10_001, "fixed_amount": 0}, "percent_bps"),
        ({"percent_bps": -1, "fixed_amount": 0}, "percent_bps"),
        ({"percent_bps": 1.5, "fixed_amount": 0}, "percent_bps"),
        ({"percent_bps": 100, "fixed_amount": -1}, "fixed_amount"),
        ({"percent_bps": 100, "fixed_amount": 2.5}, "fixed_amount"),
        ({"percent_bps": 100, "fixed_amount": 0, "currency": "EURO"}, "currency"),
    ],
)
def test_bad_pricing_is_refused_with_the_param(
    make: Factories, clean: Runtime, kwargs: dict[str, object], param: str
) -> None:
    t = make.tenants()
    with pytest.raises(InvalidInput) as caught, _tx(clean, t.id) as session:
        ledger.set_pricing(session, tenant_id=t.id, clock=CLOCK, **kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param


# --- posting --------------------------------------------------------------------------------------


def test_a_capture_owes_the_merchant_the_amount_less_the_fee(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    journal = _capture(clean, t.id, 10_000, payment_id="pay_1")
    with _tx(clean, t.id) as session:
        entries = ledger.journal_entries(session, tenant_id=t.id, reference_id="pay_1")
        assert [(e.account, e.currency, e.amount) for e in entries] == [
            (Account.PROCESSOR_RECEIVABLE, "EUR", 10_000),
            (Account.FEES, "EUR", -165),
            (Account.MERCHANT_PENDING, "EUR", -9_835),
        ]
        assert {e.journal_id for e in entries} == {journal.id}
        assert journal.kind == "payment.capture" and journal.id.startswith("jrn_")
        assert ledger.balances(session, tenant_id=t.id).as_dict() == {
            "available": [],
            "pending": [{"amount": 9_835, "currency": "EUR"}],
            "reserved": [],
            "in_transit": [],
        }


def test_a_capture_eaten_by_its_fee_writes_no_zero_entry(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 20, payment_id="pay_tiny")
    with _tx(clean, t.id) as session:
        entries = ledger.journal_entries(session, tenant_id=t.id, reference_id="pay_tiny")
    assert [(e.account, e.amount) for e in entries] == [
        (Account.PROCESSOR_RECEIVABLE, 20),
        (Account.FEES, -20),
    ]


def test_posting_the_same_change_twice_writes_one_journal(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    first = _capture(clean, t.id, 5_000, payment_id="pay_twice")
    again = _capture(clean, t.id, 5_000, payment_id="pay_twice")
    assert again.id == first.id
    with _tx(clean, t.id) as session:
        # Even with other lines: the change was recorded once, and that record stands.
        lines = [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 1), Line(Account.FEES, "EUR", -1)]
        replay = ledger.post(
            session,
            tenant_id=t.id,
            kind="payment.capture",
            reference_id="pay_twice",
            lines=lines,
            clock=CLOCK,
        )
        assert replay.id == first.id
    assert _journal_count(clean, t.id) == 1
    assert len(_all_entries(clean, t.id)) == 3
    # Another kind of change about the same payment is another journal.
    with _tx(clean, t.id) as session:
        ledger.post(
            session, tenant_id=t.id, kind="payment.adjust", reference_id="pay_twice", lines=lines, clock=CLOCK
        )
    assert _journal_count(clean, t.id) == 2


def test_two_tenants_may_use_the_same_reference(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    assert (
        _capture(clean, a.id, 1_000, payment_id="pay_same").id
        != _capture(clean, b.id, 2_000, payment_id="pay_same").id
    )
    with _tx(clean, b.id) as session:
        assert ledger.balances(session, tenant_id=b.id).pending == [{"amount": 2_000 - 53, "currency": "EUR"}]
        assert [
            e.tenant_id for e in ledger.journal_entries(session, tenant_id=b.id, reference_id="pay_same")
        ] == [b.id] * 3


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 100)],
        [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 100), Line(Account.MERCHANT_PENDING, "EUR", -99)],
        # Balanced in total but not per currency: 100 EUR is not 100 USD.
        [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 100), Line(Account.MERCHANT_PENDING, "USD", -100)],
        [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 0), Line(Account.MERCHANT_PENDING, "EUR", 0)],
        [Line("cash", "EUR", 100), Line(Account.MERCHANT_PENDING, "EUR", -100)],  # type: ignore[arg-type]
        [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 1.5), Line(Account.FEES, "EUR", -1.5)],  # type: ignore[arg-type]
    ],
)
def test_unbalanced_journals_are_refused_and_write_nothing(
    make: Factories, clean: Runtime, lines: list[Line]
) -> None:
    t = make.tenants()
    with pytest.raises(UnbalancedJournal) as caught, _tx(clean, t.id) as session:
        ledger.post(session, tenant_id=t.id, kind="test", reference_id="x", lines=lines, clock=CLOCK)
    assert caught.value.status == 500
    assert _journal_count(clean, t.id) == 0


def test_a_journal_in_an_unknown_currency_is_refused(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    lines = [Line(Account.PROCESSOR_RECEIVABLE, "eur", 100), Line(Account.MERCHANT_PENDING, "eur", -100)]
    with pytest.raises(InvalidInput), _tx(clean, t.id) as session:
        ledger.post(session, tenant_id=t.id, kind="test", reference_id="x", lines=lines, clock=CLOCK)


def test_a_journal_may_move_several_currencies_each_balanced(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    lines = [
        Line(Account.PROCESSOR_RECEIVABLE, "EUR", 100),
        Line(Account.MERCHANT_PENDING, "EUR", -100),
        Line(Account.PROCESSOR_RECEIVABLE, "JPY", 7),
        Line(Account.MERCHANT_PENDING, "JPY", -7),
    ]
    with _tx(clean, t.id) as session:
        ledger.post(session, tenant_id=t.id, kind="fx", reference_id="x", lines=lines, clock=CLOCK, memo="m")
        assert ledger.balances(session, tenant_id=t.id, currencies=["USD"]).pending == [
            {"amount": 100, "currency": "EUR"},
            {"amount": 7, "currency": "JPY"},
            {"amount": 0, "currency": "USD"},
        ]


def test_amounts_given_to_the_recorders_are_validated(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    with pytest.raises(InvalidInput) as caught, _tx(clean, t.id) as session:
        ledger.record_capture(session, tenant_id=t.id, payment_id="p", amount=0, currency="EUR", clock=CLOCK)
    assert caught.value.param == "amount"
    with pytest.raises(InvalidInput), _tx(clean, t.id) as session:
        ledger.record_refund(session, tenant_id=t.id, refund_id="r", amount=10.5, currency="EUR", clock=CLOCK)  # type: ignore[arg-type]


# --- refunds and settlement -----------------------------------------------------------------------


def test_a_refund_comes_out_of_available_funds_even_below_zero(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 10_000)  # pending 9,835
    with _tx(clean, t.id) as session:
        ledger.release_pending(
            session, tenant_id=t.id, currency="EUR", amount=3_000, reference_id="st_1", clock=CLOCK
        )
        journal = ledger.record_refund(
            session, tenant_id=t.id, refund_id="re_1", amount=5_000, currency="EUR", clock=CLOCK
        )
        entries = {e.account: e.amount for e in journal.entries}
        assert entries == {Account.MERCHANT_AVAILABLE: 5_000, Account.PROCESSOR_RECEIVABLE: -5_000}
        assert journal.kind == "refund"
        balances = ledger.balances(session, tenant_id=t.id)
    # The negative available balance is carried to the next payout; pending settles untouched.
    assert balances.available == [{"amount": 3_000 - 5_000, "currency": "EUR"}]
    assert balances.pending == [{"amount": 9_835 - 3_000, "currency": "EUR"}]


def test_a_full_refund_keeps_the_fee_so_the_merchant_owes_it(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 10_000)
    with _tx(clean, t.id) as session:
        ledger.record_refund(
            session, tenant_id=t.id, refund_id="re_all", amount=10_000, currency="EUR", clock=CLOCK
        )
        owed = ledger.balances(session, tenant_id=t.id)
        assert owed.pending[0]["amount"] + owed.available[0]["amount"] == -165
        assert ledger.account_balance(session, tenant_id=t.id, account=Account.FEES, currency="EUR") == -165
        assert (
            ledger.account_balance(
                session, tenant_id=t.id, account=Account.PROCESSOR_RECEIVABLE, currency="EUR"
            )
            == 0
        )


def test_a_refund_is_recorded_once(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 10_000)
    for _ in range(2):
        with _tx(clean, t.id) as session:
            ledger.record_refund(
                session, tenant_id=t.id, refund_id="re_x", amount=100, currency="EUR", clock=CLOCK
            )
    assert _balance(clean, t.id, Account.PROCESSOR_RECEIVABLE) == 9_900


def test_releasing_more_than_is_pending_is_refused(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 1_000)  # pending 1000 - 39
    with pytest.raises(Conflict, match=r"only 9\.61 EUR is pending"), _tx(clean, t.id) as session:
        ledger.release_pending(
            session, tenant_id=t.id, currency="EUR", amount=962, reference_id="s", clock=CLOCK
        )
    with _tx(clean, t.id) as session:
        ledger.release_pending(
            session, tenant_id=t.id, currency="EUR", amount=961, reference_id="s", clock=CLOCK
        )
        assert ledger.balances(session, tenant_id=t.id).as_dict() == {
            "available": [{"amount": 961, "currency": "EUR"}],
            "pending": [{"amount": 0, "currency": "EUR"}],
            "reserved": [],
            "in_transit": [],
        }


def test_journal_entries_list_every_journal_about_a_reference(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    _capture(clean, t.id, 2_000, payment_id="pay_j")
    clock = FrozenClock(CLOCK.now())
    clock.advance(seconds=1)
    with _tx(clean, t.id) as session:
        lines = [Line(Account.MERCHANT_PENDING, "EUR", 10), Line(Account.MERCHANT_RESERVED, "EUR", -10)]
        ledger.post(session, tenant_id=t.id, kind="reserve", reference_id="pay_j", lines=lines, clock=clock)
        entries = ledger.journal_entries(session, tenant_id=t.id, reference_id="pay_j")
        assert [e.journal.kind for e in entries] == ["payment.capture"] * 3 + ["reserve"] * 2
        assert ledger.balances(session, tenant_id=t.id).reserved == [{"amount": 10, "currency": "EUR"}]
        assert ledger.journal_entries(session, tenant_id=t.id, reference_id="pay_none") == []


# --- properties -----------------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=10**9)


@st.composite
def balanced_lines(draw: st.DrawFn) -> list[Line]:
    """One or more currencies, each a set of non-zero lines that sum to zero."""
    lines: list[Line] = []
    for currency in draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True)):
        debits = draw(st.lists(amounts, min_size=1, max_size=3))
        credits = draw(st.lists(amounts, min_size=1, max_size=3))
        # Top up the lighter side so the currency balances.
        gap = sum(debits) - sum(credits)
        if gap > 0:
            credits.append(gap)
        elif gap < 0:
            debits.append(-gap)
        accounts = st.sampled_from(list(Account))
        lines += [Line(draw(accounts), currency, a) for a in debits]
        lines += [Line(draw(accounts), currency, -a) for a in credits]
    return draw(st.permutations(lines))


@DB_EXAMPLES
@given(journals=st.lists(balanced_lines(), min_size=1, max_size=4))
def test_every_journal_sums_to_zero_and_balances_are_sums_of_entries(
    clean: Runtime, journals: list[list[Line]]
) -> None:
    tenant_id = _bare_tenant(clean)
    expected: dict[tuple[Account, str], int] = defaultdict(int)
    with _tx(clean, tenant_id) as session:
        for n, lines in enumerate(journals):
            ledger.post(
                session, tenant_id=tenant_id, kind="test", reference_id=f"ref_{n}", lines=lines, clock=CLOCK
            )
            for line in lines:
                expected[(line.account, line.currency)] += line.amount
    entries = _all_entries(clean, tenant_id)
    per_journal: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        per_journal[(entry.journal_id, entry.currency)] += entry.amount
    assert set(per_journal.values()) == {0}
    assert len({e.journal_id for e in entries}) == len(journals)
    with _tx(clean, tenant_id) as session:
        for account in Account:
            for currency in CURRENCIES:
                got = ledger.account_balance(session, tenant_id=tenant_id, account=account, currency=currency)
                assert got == expected.get((account, currency), 0)
        shown = ledger.balances(session, tenant_id=tenant_id).as_dict()
    for name, account in [
        ("available", Account.MERCHANT_AVAILABLE),
        ("pending", Account.MERCHANT_PENDING),
        ("reserved", Account.MERCHANT_RESERVED),
    ]:
        want = [
            {"amount": -expected[(account, c)], "currency": c}
            for c in sorted({c for (acc, c) in expected if acc == account})
        ]
        assert shown[name] == want


@st.composite
def unbalanced_lines(draw: st.DrawFn) -> list[Line]:
    lines = draw(balanced_lines())
    victim = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    nudge = draw(st.integers(min_value=1, max_value=1_000))
    lines[victim] = Line(lines[victim].account, lines[victim].currency, lines[victim].amount + nudge)
    if lines[victim].amount == 0:  # refused anyway, but make it the imbalance being tested
        lines[victim] = Line(lines[victim].account, lines[victim].currency, nudge)
    return lines


@settings(max_examples=50, deadline=None)
@given(lines=unbalanced_lines())
def test_a_journal_off_by_any_amount_is_refused_before_any_query(lines: list[Line]) -> None:
    # No session is needed: the check comes first, so nothing can be half-written.
    with pytest.raises(UnbalancedJournal):
        ledger.post(None, tenant_id="ten_x", kind="t", reference_id="r", lines=lines, clock=CLOCK)  # type: ignore[arg-type]


@dataclass
class Payment:
    id: str
    currency: str
    amount: int
    refund_ids: list[str] = field(default_factory=list)
    refunded: int = 0


@dataclass
class Model:
    payments: list[Payment] = field(default_factory=list)
    fees: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Every (kind, reference_id, journal id) posted, to replay and check exactly-once.
    posted: list[tuple[str, str, str]] = field(default_factory=list)


captures = st.tuples(st.just("capture"), st.sampled_from(CURRENCIES), amounts)
#: Refunds and releases take a share of what is left, in per mille (no floats near money, even in tests).
per_mille = st.integers(min_value=1, max_value=1_000)
refunds = st.tuples(st.just("refund"), st.integers(min_value=0), per_mille)
releases = st.tuples(st.just("release"), st.sampled_from(CURRENCIES), per_mille)
replays = st.tuples(st.just("replay"), st.integers(min_value=0), st.just(0))


def _apply(rt: Runtime, tenant_id: str, model: Model, op: tuple[str, object, object]) -> None:
    kind, a, b = op
    with _tx(rt, tenant_id) as session:
        if kind == "capture":
            assert isinstance(a, str) and isinstance(b, int)
            payment = Payment(new_id("pay"), a, b)
            model.fees[a] += ledger.fee_for(session, tenant_id=tenant_id, amount=b, currency=a)
            journal = ledger.record_capture(
                session, tenant_id=tenant_id, payment_id=payment.id, amount=b, currency=a, clock=CLOCK
            )
            model.payments.append(payment)
            model.posted.append(("capture", payment.id, journal.id))
        elif kind == "refund" and model.payments:
            assert isinstance(a, int) and isinstance(b, int)
            payment = model.payments[a % len(model.payments)]
            remaining = payment.amount - payment.refunded
            if remaining == 0:
                return
            amount = max(1, remaining * b // 1_000)
            refund_id = new_id("re")
            journal = ledger.record_refund(
                session,
                tenant_id=tenant_id,
                refund_id=refund_id,
                amount=amount,
                currency=payment.currency,
                clock=CLOCK,
            )
            payment.refund_ids.append(refund_id)
            payment.refunded += amount
            model.posted.append(("refund", refund_id, journal.id))
        elif kind == "release":
            assert isinstance(a, str) and isinstance(b, int)
            pending = -ledger.account_balance(
                session, tenant_id=tenant_id, account=Account.MERCHANT_PENDING, currency=a
            )
            if pending <= 0:
                return
            reference = new_id("po")
            journal = ledger.release_pending(
                session,
                tenant_id=tenant_id,
                currency=a,
                amount=max(1, pending * b // 1_000),
                reference_id=reference,
                clock=CLOCK,
            )
            model.posted.append(("release", reference, journal.id))
        elif kind == "replay" and model.posted:
            assert isinstance(a, int)
            _replay(session, tenant_id, model, model.posted[a % len(model.posted)])


def _replay(session: KassaSession, tenant_id: str, model: Model, posted: tuple[str, str, str]) -> None:
    """A job run twice: the same call again must return the first journal and write nothing."""
    kind, reference, journal_id = posted
    if kind == "capture":
        payment = next(p for p in model.payments if p.id == reference)
        again = ledger.record_capture(
            session,
            tenant_id=tenant_id,
            payment_id=reference,
            amount=payment.amount,
            currency=payment.currency,
            clock=CLOCK,
        )
    elif kind == "refund":
        payment = next(p for p in model.payments if reference in p.refund_ids)
        again = ledger.record_refund(
            session,
            tenant_id=tenant_id,
            refund_id=reference,
            amount=1,
            currency=payment.currency,
            clock=CLOCK,
        )
    else:
        again = ledger.release_pending(
            session, tenant_id=tenant_id, currency="EUR", amount=1, reference_id=reference, clock=CLOCK
        )
    assert again.id == journal_id


@DB_EXAMPLES
@given(ops=st.lists(st.one_of(captures, refunds, releases, replays), min_size=1, max_size=12))
def test_money_is_conserved_over_captures_refunds_and_releases(
    clean: Runtime, ops: list[tuple[str, object, object]]
) -> None:
    tenant_id = _bare_tenant(clean)
    model = Model()
    for op in ops:
        _apply(clean, tenant_id, model, op)
    entries = _all_entries(clean, tenant_id)

    # Conservation: across every account, each currency sums to zero.
    totals: dict[str, int] = defaultdict(int)
    for entry in entries:
        totals[entry.currency] += entry.amount
    assert all(total == 0 for total in totals.values()), totals
    # Exactly once: one journal per change, replays included.
    assert len({e.journal_id for e in entries}) == len(model.posted)

    with _tx(clean, tenant_id) as session:
        for currency in CURRENCIES:
            captured = sum(p.amount for p in model.payments if p.currency == currency)
            refunded = sum(p.refunded for p in model.payments if p.currency == currency)
            fees = model.fees[currency]

            def balance(account: Account, currency: str = currency) -> int:
                return ledger.account_balance(
                    session, tenant_id=tenant_id, account=account, currency=currency
                )

            assert balance(Account.PROCESSOR_RECEIVABLE) == captured - refunded
            assert balance(Account.FEES) == -fees
            owed = -(balance(Account.MERCHANT_PENDING) + balance(Account.MERCHANT_AVAILABLE))
            assert owed == captured - fees - refunded
            # Refunds come out of available funds, which may go below zero (carried to the next payout).
        # No refund exceeds its payment, read back from the ledger rather than the model.
        for payment in model.payments:
            refunded = sum(
                -e.amount
                for refund_id in payment.refund_ids
                for e in ledger.journal_entries(session, tenant_id=tenant_id, reference_id=refund_id)
                if e.account == Account.PROCESSOR_RECEIVABLE
            )
            assert refunded == payment.refunded <= payment.amount


# --- PostgreSQL: the race the unique constraint settles -------------------------------------------


@pytest.mark.postgres
def test_concurrent_posts_of_one_change_write_one_journal(make: Factories, clean: Runtime) -> None:
    t = make.tenants()
    lines = [Line(Account.PROCESSOR_RECEIVABLE, "EUR", 500), Line(Account.MERCHANT_PENDING, "EUR", -500)]
    results: dict[str, str] = {}

    def second() -> None:
        with _tx(clean, t.id) as session:
            # Runs while the first is uncommitted: sees no journal, inserts, waits on the unique index.
            journal = ledger.post(
                session, tenant_id=t.id, kind="race", reference_id="pay_race", lines=lines, clock=CLOCK
            )
            # The lost race did not abort this transaction: it can still write.
            ledger.post(
                session, tenant_id=t.id, kind="after", reference_id="pay_race", lines=lines, clock=CLOCK
            )
            results["second"] = journal.id

    with _tx(clean, t.id) as session:
        first = ledger.post(
            session, tenant_id=t.id, kind="race", reference_id="pay_race", lines=lines, clock=CLOCK
        )
        results["first"] = first.id
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second post should be waiting on the first's uncommitted row"
    thread.join(timeout=10)
    assert results["second"] == results["first"]
    with _tx(clean, t.id) as session:
        kinds = session.scalars(select(Journal.kind).order_by(Journal.kind)).all()
    assert kinds == ["after", "race"]
    assert _balance(clean, t.id, Account.PROCESSOR_RECEIVABLE) == 1_000
