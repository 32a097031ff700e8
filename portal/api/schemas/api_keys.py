"""API key schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    ID,
    TIMESTAMP,
)
from tenants.permissions import Permission

API_KEY_PROPERTIES: dict[str, Any] = {
    "id": ID,
    "object": {"const": "api_key"},
    "kind": {"enum": ["publishable", "secret"]},
    "livemode": {"type": "boolean"},
    "display": {"type": "string", "description": "The full publishable key, or sk_test_…abcd"},
    "status": {
        "enum": ["active", "expiring", "expired", "revoked"],
        "description": "expiring: rolled, and working until expires_at",
    },
    "created_at": TIMESTAMP,
    "expires_at": {"type": ["integer", "null"], "description": "Unix time a rolled key stops working"},
    "revoked_at": {"type": ["integer", "null"]},
    "permissions": {
        "type": ["array", "null"],
        "items": {"enum": [p.value for p in Permission]},
        "description": "A restricted key's permissions; null: every permission of its mode",
    },
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "object",
        "required": list(API_KEY_PROPERTIES),
        "properties": API_KEY_PROPERTIES,
    },
    "ApiKeyRoll": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "overlap_seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 604800,
                "description": "How long the old key keeps working (default 86400: 24 h; 0 revokes it now)",
            }
        },
    },
    "ApiKeyRolled": {
        "type": "object",
        "required": [*API_KEY_PROPERTIES, "secret", "replaced"],
        "properties": {
            **API_KEY_PROPERTIES,
            "secret": {
                "type": ["string", "null"],
                "description": "The new key in full, in this answer only (an Idempotency-Key replay "
                "answers null here)",
            },
            "replaced": {"$ref": "#/components/schemas/ApiKey"},
        },
    },
    "ApiKeyRevoke": {"type": "object", "additionalProperties": False, "properties": {}},
}
