"""Refund schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    ID,
    ID_PARAM,
    NULLABLE_STRING,
    TIMESTAMP,
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "RefundCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["payment"],
        "properties": {
            "payment": ID_PARAM,
            "amount": AMOUNT,
            "reason": {"enum": ["requested_by_customer", "duplicate", "fraudulent"]},
        },
    },
    "Refund": {
        "type": "object",
        "required": ["id", "object", "payment", "amount", "currency", "status", "reason", "created_at"],
        "properties": {
            "id": ID,
            "object": {"const": "refund"},
            "payment": {"type": "string"},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "status": {"enum": ["succeeded", "failed"]},
            "reason": NULLABLE_STRING,
            "created_at": TIMESTAMP,
        },
    },
    # A refund above the tenant's four-eyes amount (tenants/approvals.py): answered 202, carried out when
    # another person approves it in the portal (its webhook events then tell of the refund).
    "ApprovalRequest": {
        "type": "object",
        "required": ["id", "object", "kind", "status", "summary", "params", "created_at", "expires_at"],
        "properties": {
            "id": ID,
            "object": {"const": "approval_request"},
            "kind": {"type": "string"},
            "status": {"enum": ["pending", "approved", "declined", "expired", "failed", "canceled"]},
            "summary": {"type": "string"},
            "params": {"type": "object"},
            "created_at": TIMESTAMP,
            "expires_at": TIMESTAMP,
        },
    },
}
