"""A large, realistic payment history for one tenant, written in bulk (`kassa reports seed`, bench/).

Rows are inserted directly, in chunks, not through the payment services: a year of 100,000 payments
through the services would take hours. What is written is what the services would leave for reports and
exports: checkout sessions, payments (every outcome, decline reasons, three methods, several countries and
currencies, returning shoppers), succeeded refunds, and the ledger's capture and refund journals with
the tenant's fees. Payment status histories, events and audit entries are not written (nothing in reports
reads them); the rollups are then built by `kassa reports rebuild`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, insert, text

from core.db import Database
from core.ids import new_id
from core.ledger import service as ledger
from core.ledger.models import Account, Entry, Journal
from core.payments.models import CheckoutSession, Payment, Refund

CHUNK: Final = 2000
METHODS: Final = (("card", 75), ("wallet", 15), ("bank", 10))
COUNTRIES: Final = (("DE", 50), ("NL", 15), ("FR", 12), ("AT", 8), ("BE", 6), ("US", 5), ("GB", 4))
#: Outcome weights per 1000 payments; failed ones are split over DECLINES.
OUTCOMES: Final = (("succeeded", 860), ("failed", 100), ("authorized", 15), ("canceled", 10), ("pending", 15))
DECLINES: Final = (
    ("card_declined", 50),
    ("insufficient_funds", 30),
    ("expired_card", 10),
    ("authentication_failed", 7),
    ("risk_blocked", 3),
)
BRANDS: Final = ("visa", "mastercard", "amex")


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def seed(
    db: Database,
    *,
    tenant_id: str,
    payments: int,
    now: datetime,
    days: int = 365,
    currencies: tuple[str, ...] = ("EUR",),
    seed: int = 14,
    livemode: bool = False,
    analyze: bool = True,
) -> Iterator[int]:
    """Write `payments` payments spread over the last `days` days; yields the count after each chunk.

    Statistics are refreshed whenever the tables have doubled (see below). `analyze`: refresh them at the
    end too (a caller seeding many tenants does it once, with `analyze_tables`)."""
    rng = random.Random(seed)  # noqa: S311  (made-up test data, repeatable from its seed: no secret)
    start = now - timedelta(days=days)
    shoppers = max(1, payments // 3)
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        terms = {c: ledger.pricing_for(uow.session, tenant_id=tenant_id, currency=c) for c in currencies}
    done = 0
    # Rows the planner's statistics knew of when last refreshed, and rows there are now (about).
    counted = existing = _planner_rows(db)
    while done < payments:
        size = min(CHUNK, payments - done)
        rows = _chunk(
            rng,
            tenant_id=tenant_id,
            size=size,
            start=start,
            days=days,
            now=now,
            shoppers=shoppers,
            currencies=currencies,
            terms=terms,
            livemode=livemode,
        )
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            for model in (CheckoutSession, Payment, Refund, Journal, Entry):
                if rows[model.__tablename__]:
                    uow.session.execute(insert(cast(Table, model.__table__)), rows[model.__tablename__])
        done += size
        if db.is_postgres and existing + done > 2 * counted:
            # The tables have doubled since the planner last looked. Its plans for the foreign-key checks
            # of the next inserts otherwise stay those of an empty table (any index whose first column
            # is tenant_id, read through every row of the tenant: each chunk slower than the last; 40x
            # slower by 50,000 payments where autovacuum is off or has not come by yet).
            analyze_tables(db)
            counted = existing + done
        yield done
    if analyze and counted != existing + done:  # not twice in a row: the last chunk may have just refreshed
        analyze_tables(db)


def _planner_rows(db: Database) -> int:
    """The payments the planner's statistics count (0 before the first ANALYZE; SQLite: 0)."""
    if not db.is_postgres:
        return 0
    with db.owner_engine.connect() as conn:
        rows = conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'payments'::regclass"))
    return max(0, int(rows or 0))


def analyze_tables(db: Database) -> None:
    if db.is_postgres:
        # Fresh statistics: until autovacuum comes by, the planner takes the bulk-filled tables for empty
        # and joins them the slow way (a rebuild's fee query went from 0.2 to 11 s). The owner may ANALYZE.
        with db.owner_engine.begin() as conn:
            for model in (CheckoutSession, Payment, Refund, Journal, Entry):
                conn.execute(text(f"ANALYZE {model.__tablename__}"))


def _chunk(
    rng: random.Random,
    *,
    tenant_id: str,
    size: int,
    start: datetime,
    days: int,
    now: datetime,
    shoppers: int,
    currencies: tuple[str, ...],
    terms: dict[str, ledger.FeeTerms],
    livemode: bool,
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "checkout_sessions": [],
        "payments": [],
        "refunds": [],
        "ledger_journals": [],
        "ledger_entries": [],
    }
    span = days * 86400
    for _ in range(size):
        created = start + timedelta(seconds=rng.randrange(span))
        if created > now:
            created = now
        currency = currencies[0] if len(currencies) == 1 or rng.random() < 0.8 else rng.choice(currencies[1:])
        amount = int(rng.lognormvariate(8.0, 0.9)) + 100  # median about 30.00, a long tail
        method = _pick(rng, METHODS)
        country = _pick(rng, COUNTRIES)
        outcome = _pick(rng, OUTCOMES)
        shopper = rng.randrange(shoppers)
        email = f"shopper{shopper}@example.com" if shopper % 10 < 7 else None
        status = outcome
        failure = _pick(rng, DECLINES) if outcome == "failed" else None
        captured = amount if outcome == "succeeded" else 0
        cs_id, pay_id = new_id("cs"), new_id("pay")
        out["checkout_sessions"].append(
            {
                "tenant_id": tenant_id,
                "id": cs_id,
                "status": "complete" if captured else "open",
                "amount": amount,
                "currency": currency,
                "reference": None,
                "description": None,
                "customer_email": email,
                "locale": None,
                "country": country,
                "success_url": None,
                "cancel_url": None,
                "payment_methods": [method],
                "capture_method": "automatic",
                "metadata": {},
                "expires_at": created + timedelta(hours=24),
                "created_at": created,
                "completed_at": created if captured else None,
                "livemode": livemode,
                "payment_id": pay_id,
            }
        )
        card = method == "card"
        refunded = 0
        if captured and rng.random() < 0.05:
            refunded = captured if rng.random() < 0.5 else max(1, captured // rng.randint(2, 5))
            status = "refunded" if refunded == captured else "partially_refunded"
        out["payments"].append(
            {
                "tenant_id": tenant_id,
                "id": pay_id,
                "checkout_session_id": cs_id,
                "status": {"pending": "requires_action"}.get(status, status),
                "amount": amount,
                "amount_captured": captured,
                "amount_refunded": refunded,
                "surcharge": 0,
                "currency": currency,
                "method": method,
                "capture_method": "manual" if outcome == "authorized" else "automatic",
                "card_token_id": None,
                "card_brand": rng.choice(BRANDS) if card else None,
                "card_last4": f"{shopper % 10000:04d}" if card else None,
                "card_exp_month": 12 if card else None,
                "card_exp_year": 2030 if card else None,
                "card_country": country if card else None,
                "card_bin": "424242" if card else None,
                "card_fingerprint": f"{shopper:064x}"[-64:] if card else None,
                "bank": None,
                "failure_code": failure,
                "failure_message": "Declined." if failure else None,
                "risk_decision": "allow",
                "risk_reasons": [],
                "action_type": None,
                "three_ds_required": False,
                "action_result": None,
                "processor": "sandbox",
                "processor_reference": None,
                "processor_attempts": 0,
                "next_attempt_at": None,
                "customer_email": email,
                "client_ip": None,
                "statement_descriptor": None,
                "livemode": livemode,
                "created_at": created,
                "updated_at": created,
            }
        )
        if captured:
            fee = ledger.compute_fee(captured, terms[currency])
            _journal(
                out,
                tenant_id,
                ledger.KIND_CAPTURE,
                pay_id,
                created,
                [
                    (Account.PROCESSOR_RECEIVABLE, currency, captured),
                    (Account.MERCHANT_PENDING, currency, -(captured - fee)),
                    (Account.FEES, currency, -fee),
                ],
            )
        if refunded:
            re_id = new_id("re")
            when = min(created + timedelta(days=rng.randint(0, 20)), now)
            out["refunds"].append(
                {
                    "tenant_id": tenant_id,
                    "id": re_id,
                    "payment_id": pay_id,
                    "amount": refunded,
                    "currency": currency,
                    "status": "succeeded",
                    "reason": "requested_by_customer",
                    "processor_reference": None,
                    "created_at": when,
                }
            )
            _journal(
                out,
                tenant_id,
                ledger.KIND_REFUND,
                re_id,
                when,
                [
                    (Account.MERCHANT_PENDING, currency, refunded),
                    (Account.PROCESSOR_RECEIVABLE, currency, -refunded),
                ],
            )
    return out


def _journal(
    out: dict[str, list[dict[str, Any]]],
    tenant_id: str,
    kind: str,
    reference: str,
    when: datetime,
    lines: list[tuple[Account, str, int]],
) -> None:
    journal_id = new_id("jrn")
    out["ledger_journals"].append(
        {
            "tenant_id": tenant_id,
            "id": journal_id,
            "kind": kind,
            "reference_id": reference,
            "memo": None,
            "created_at": when,
        }
    )
    for account, currency, amount in lines:
        if amount:
            out["ledger_entries"].append(
                {
                    "tenant_id": tenant_id,
                    "id": new_id("ent"),
                    "journal_id": journal_id,
                    "account": account.value,
                    "currency": currency,
                    "amount": amount,
                    "created_at": when,
                }
            )
