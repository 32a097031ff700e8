"""Double-entry ledger: journals that sum to zero per currency, fees, and balances derived from entries."""

from core.ledger.models import Account, Entry, Journal, Pricing
from core.ledger.service import (
    DEFAULT_FIXED_AMOUNT,
    DEFAULT_PERCENT_BPS,
    Balances,
    FeeTerms,
    Line,
    UnbalancedJournal,
    account_balance,
    balances,
    fee_for,
    journal_entries,
    post,
    pricing_for,
    record_capture,
    record_refund,
    release_pending,
    set_pricing,
)

__all__ = [
    "DEFAULT_FIXED_AMOUNT",
    "DEFAULT_PERCENT_BPS",
    "Account",
    "Balances",
    "Entry",
    "FeeTerms",
    "Journal",
    "Line",
    "Pricing",
    "UnbalancedJournal",
    "account_balance",
    "balances",
    "fee_for",
    "journal_entries",
    "post",
    "pricing_for",
    "record_capture",
    "record_refund",
    "release_pending",
    "set_pricing",
]
