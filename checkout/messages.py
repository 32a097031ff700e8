"""Core error messages a shopper can read on the checkout, listed here so they are extracted for translation.

core/ stays free of Flask-Babel (import-linter): its errors carry English messages, and the checkout shows
them through `gettext(exc.message)` (views.py). A message raised with different words, or a new one,
shows up in English until it is listed here too; tests/checkout/test_translations.py raises each of them
and fails on one that is missing.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: core/vault/cards.py: validate_card and validate_cvc.
CARD_ERRORS = (
    _l("Enter the card number."),
    _l("Card number is not valid. Check the digits."),
    _l("Expiry date is in the past."),
    _l("Expiry year is more than 20 years away. Check the date."),
    _l("Expiry month must be a number from 1 to 12."),
    _l("Expiry year must have 2 or 4 digits (for example 28 or 2028)."),
    _l("Security code must be 3 digits."),
    _l("Security code must be 4 digits."),
)

#: core/payments/service.py: confirm (SessionNotOpen, InvalidInput, PaymentsUnavailable) and complete_action.
PAYMENT_ERRORS = (
    _l("This checkout session has expired. Ask the shop for a new payment link."),
    _l("This checkout session is already paid."),
    _l("Choose one of the payment methods offered."),
    _l("This payment is not waiting for you."),
    _l("Card payments are briefly unavailable. Please try again in a minute; nothing was charged."),
    _l("Enter your email address for the receipt."),
    _l("Enter a valid email address, like name@example.com."),
    _l("Enter the postal code of your billing address."),
)

#: core/receipts/service.py: request (the receipt page's "Email me a receipt").
RECEIPT_ERRORS = (
    _l("Enter a valid email address."),
    _l("This payment is not complete yet."),
    _l("Too many receipts were requested for this payment. Try again later."),
)
