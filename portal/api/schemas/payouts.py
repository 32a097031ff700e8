"""The payout, balance transaction, bank account and dispute schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import AMOUNT, CURRENCY, ID, MONEY_LIST, NULLABLE_STRING, TIMESTAMP

EVIDENCE_FIELD = {"type": "string", "maxLength": 20_000}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Balance": {
        "type": "object",
        "required": ["object", "available", "pending", "reserved"],
        "properties": {
            "object": {"const": "balance"},
            "available": MONEY_LIST,
            "pending": MONEY_LIST,
            "reserved": MONEY_LIST,
            "in_transit": MONEY_LIST,
        },
    },
    "BalanceTransaction": {
        "type": "object",
        "required": ["id", "type", "amount", "fee", "net", "currency", "source", "payout", "available_on"],
        "properties": {
            "id": ID,
            "object": {"const": "balance_transaction"},
            "type": {
                "enum": [
                    "charge",
                    "refund",
                    "dispute",
                    "dispute_reversal",
                    "payout",
                    "payout_failure",
                    "reserve_hold",
                    "reserve_release",
                    "payout_carry",
                ]
            },
            "amount": {"type": "integer"},
            "fee": {"type": "integer", "minimum": 0},
            "net": {"type": "integer"},
            "currency": {"type": "string"},
            "status": {"enum": ["pending", "available"]},
            "source": ID,
            "payout": NULLABLE_STRING,
            "available_on": TIMESTAMP,
            "created_at": TIMESTAMP,
        },
    },
    "Payout": {
        "type": "object",
        "required": ["id", "amount", "currency", "status", "arrival_date", "created_at"],
        "properties": {
            "id": ID,
            "object": {"const": "payout"},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "status": {"enum": ["created", "in_transit", "paid", "failed"]},
            "method": {"enum": ["automatic", "manual"]},
            "arrival_date": {"type": "string", "format": "date"},
            "bank_account": ID,
            "failure_code": NULLABLE_STRING,
            "failure_message": NULLABLE_STRING,
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "PayoutCreate": {
        "type": "object",
        "required": ["currency"],
        "additionalProperties": False,
        "properties": {
            "amount": {**AMOUNT, "description": "Minor units; all of the available balance when left out"},
            "currency": CURRENCY,
        },
    },
    "BankAccount": {
        "type": "object",
        "required": ["id", "currency", "last4", "status"],
        "properties": {
            "id": ID,
            "object": {"const": "bank_account"},
            "currency": {"type": "string"},
            "country": {"type": "string"},
            "account_holder": {"type": "string"},
            "kind": {"enum": ["iban", "local"]},
            "last4": {"type": "string"},
            "masked": {"type": "string"},
            "bank_name": NULLABLE_STRING,
            "status": {"enum": ["pending_approval", "active", "inactive"]},
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "BankAccountCreate": {
        "type": "object",
        "required": ["currency", "country", "account_holder"],
        "additionalProperties": False,
        "properties": {
            "currency": CURRENCY,
            "country": {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "The bank's country"},
            "account_holder": {"type": "string", "minLength": 1, "maxLength": 140},
            "iban": {"type": "string", "maxLength": 42, "description": "Or (US) the two below"},
            "account_number": {"type": "string", "minLength": 4, "maxLength": 17},
            "routing_number": {"type": "string", "minLength": 9, "maxLength": 9, "description": "ABA"},
            "reason": {
                "type": "string",
                "maxLength": 500,
                "description": "Shown to the approver when the change needs four-eyes approval",
            },
        },
    },
    "Dispute": {
        "type": "object",
        "required": [
            "id",
            "payment",
            "amount",
            "currency",
            "reason",
            "status",
            "evidence_due_by",
            "created_at",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "dispute"},
            "payment": ID,
            "amount": {"type": "integer"},
            "fee": {"type": "integer"},
            "currency": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"enum": ["needs_response", "under_review", "won", "lost"]},
            "is_inquiry": {"type": "boolean"},
            "evidence_due_by": TIMESTAMP,
            "evidence_submitted": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "DisputeEvidence": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "evidence": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    name: EVIDENCE_FIELD
                    for name in (
                        "product_description",
                        "customer_communication",
                        "shipping_tracking_number",
                        "refund_policy",
                        "uncategorized_text",
                    )
                },
            },
            "files": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "required": ["filename", "content_base64"],
                    "additionalProperties": False,
                    "properties": {
                        "filename": {"type": "string", "minLength": 1, "maxLength": 200},
                        "content_base64": {
                            "type": "string",
                            "maxLength": 5_600_000,
                            "description": "The file, base64; PDF, PNG or JPEG, at most 4 MB",
                        },
                    },
                },
            },
        },
    },
}
