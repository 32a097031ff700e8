"""Locality rule schemas."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    AMOUNT,
    CURRENCY,
    ID,
    METHODS,
    TIMESTAMP,
    nullable,
)

AMOUNT_LIMITS = {
    "type": ["array", "null"],
    "maxItems": 50,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["currency"],
        "properties": {"currency": CURRENCY, "min": nullable(AMOUNT), "max": nullable(AMOUNT)},
    },
    "description": "Inclusive limits per currency, minor units; min or max may be left out",
}
RULE_FIELDS: dict[str, Any] = {
    "methods": {**METHODS, "type": ["array", "null"], "description": "Methods offered (session order kept)"},
    "amount_limits": AMOUNT_LIMITS,
    "required_fields": {
        "type": ["array", "null"],
        "items": {"enum": ["postal_code", "email"]},
        "uniqueItems": True,
        "description": "Extra fields the shopper must fill in",
    },
    "surcharge_bps": {
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": 300,
        "description": "Card surcharge in basis points; refused where the law forbids it (EU/EEA, UK)",
    },
    "three_ds": {
        "enum": ["automatic", "required", None],
        "description": "automatic: the issuer decides; required: every card payment is challenged",
    },
    "default_language": {
        "enum": ["en", "de", "fr", "es", "nl", None],
        "description": "When neither the session nor the browser names a language Kassa has",
    },
}
COUNTRY_OR_ALL = {
    "type": "string",
    "pattern": "^([A-Za-z]{2}|\\*)$",
    "description": 'ISO 3166-1 alpha-2, or "*" for every country (a country\'s own rule wins field by field)',
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "LocalityRuleCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["country"],
        "properties": {"country": COUNTRY_OR_ALL, **RULE_FIELDS},
    },
    "LocalityRuleUpdate": {"type": "object", "additionalProperties": False, "properties": RULE_FIELDS},
    "LocalityRule": {
        "type": "object",
        "required": ["id", "object", "country", *RULE_FIELDS, "created_at", "updated_at"],
        "properties": {
            "id": ID,
            "object": {"const": "locality_rule"},
            "country": {"type": "string"},
            "livemode": {"type": "boolean", "description": "The mode whose checkouts it governs"},
            **RULE_FIELDS,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
    "LocalityRuleDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": ID, "object": {"const": "locality_rule"}, "deleted": {"const": True}},
    },
    "LocalityRulesInForce": {
        "type": "object",
        "required": [
            "object",
            "country",
            "currency",
            "methods",
            "min_amount",
            "max_amount",
            "required_fields",
            "surcharge_bps",
            "three_ds",
            "default_language",
            "banks",
        ],
        "properties": {
            "object": {"const": "locality_rules.in_force"},
            "country": {"type": "string"},
            "currency": {"type": "string"},
            "methods": {"type": "array", "items": {"type": "string"}},
            "min_amount": {"type": ["integer", "null"]},
            "max_amount": {"type": ["integer", "null"]},
            "required_fields": {"type": "array", "items": {"type": "string"}},
            "surcharge_bps": {"type": "integer"},
            "three_ds": {"enum": ["automatic", "required"]},
            "default_language": {"type": "string"},
            "banks": {"type": "array", "items": {"type": "string"}},
        },
    },
}
