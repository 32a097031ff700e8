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
METHOD_LIMITS = {
    "type": ["array", "null"],
    "maxItems": 150,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["method", "currency"],
        "properties": {
            "method": {"enum": ["card", "wallet", "bank"]},
            "currency": CURRENCY,
            "min": nullable(AMOUNT),
            "max": nullable(AMOUNT),
        },
    },
    "description": "Per method and currency: offered only for amounts inside (inclusive, minor units)",
}
RULE_FIELDS: dict[str, Any] = {
    "methods": {**METHODS, "type": ["array", "null"], "description": "Methods offered (session order kept)"},
    "amount_limits": AMOUNT_LIMITS,
    "method_limits": METHOD_LIMITS,
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
RULE = {
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
}
VERSION_RULES = {
    "type": "array",
    "maxItems": 300,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["country"],
        "properties": {"country": COUNTRY_OR_ALL, **RULE_FIELDS},
    },
    "description": 'The whole rule set: one rule per country (or "*"); a rule left out is removed',
}
FUTURE = {
    "type": ["integer", "null"],
    "minimum": 0,
    "maximum": 253402300799,
    "description": "Unix time, seconds: when the version takes effect (in the future); null: a draft",
}
NOTE = {"type": ["string", "null"], "maxLength": 200, "description": "A line for the history"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "LocalityRuleCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["country"],
        "properties": {"country": COUNTRY_OR_ALL, **RULE_FIELDS},
    },
    "LocalityRuleUpdate": {"type": "object", "additionalProperties": False, "properties": RULE_FIELDS},
    "LocalityRule": RULE,
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
    "LocalityRuleVersionCreate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"rules": VERSION_RULES, "effective_at": FUTURE, "note": NOTE},
        "description": "Without rules: a copy of the rules in force now",
    },
    "LocalityRuleVersionUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"rules": VERSION_RULES, "effective_at": FUTURE, "note": NOTE},
    },
    "LocalityRuleVersionPublish": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"effective_at": FUTURE},
        "description": "Without effective_at: in force now",
    },
    "LocalityRuleVersionRestore": {"type": "object", "additionalProperties": False, "properties": {}},
    "LocalityRuleVersion": {
        "type": "object",
        "required": ["id", "object", "number", "livemode", "status", "effective_at", "rules", "created_at"],
        "properties": {
            "id": ID,
            "object": {"const": "locality_rule_version"},
            "number": {"type": "integer"},
            "livemode": {"type": "boolean"},
            "status": {"enum": ["draft", "scheduled", "in_force", "superseded"]},
            "effective_at": {"type": ["integer", "null"]},
            "note": {"type": ["string", "null"]},
            "restored_from": {"type": ["string", "null"]},
            "rules": {"type": "array", "items": RULE},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
    "LocalityRuleVersionDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": ID, "object": {"const": "locality_rule_version"}, "deleted": {"const": True}},
    },
    "LocalityRuleVersionDryRun": {
        "type": "object",
        "required": ["object", "since", "examined", "affected", "counts", "summary", "payments"],
        "properties": {
            "object": {"const": "locality_rule_version.dry_run"},
            "since": TIMESTAMP,
            "examined": {"type": "integer"},
            "affected": {"type": "integer"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "summary": {"type": "string"},
            "payments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["payment", "country", "amount", "currency", "method", "change", "reason"],
                    "properties": {
                        "payment": ID,
                        "created_at": TIMESTAMP,
                        "country": {"type": "string"},
                        "amount": {"type": "integer"},
                        "currency": {"type": "string"},
                        "method": {"type": "string"},
                        "change": {"enum": ["not_offered", "over_limit", "under_limit", "three_ds"]},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    },
}
