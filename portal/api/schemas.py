"""The API's schemas: one source for request validation and for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from tenants.permissions import Permission

NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
ID = {"type": "string", "maxLength": 64}
#: A Kassa id as given to a query or a path: a prefix, "_", and 26 lower-case base32 characters (36 for
#: ids that alone grant access, like a checkout session's: core/ids.py).
ID_PARAM: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z]+_[0-9a-z]{26}([0-9a-z]{10})?$",
    "description": "An object id, e.g. pay_01jd8x3m4n5p6q7r8s9t0v1w2x",
}
URL = {
    "type": "string",
    "maxLength": 2048,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]",
    "description": "Absolute http(s) URL (https in live mode)",
}
TIMESTAMP = {"type": "integer", "description": "Unix time, seconds"}
AMOUNT = {
    "type": "integer",
    "minimum": 1,
    "maximum": 999_999_999_999,
    "description": "Minor units of currency",
}
CURRENCY = {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217, e.g. EUR"}
METHODS = {"type": "array", "items": {"enum": ["card", "wallet", "bank"]}, "minItems": 1, "uniqueItems": True}
MONEY_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
    },
}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "code", "message", "param"],
                "properties": {
                    "type": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "param": NULLABLE_STRING,
                },
            }
        },
    },
    "CheckoutSessionCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["amount", "currency"],
        "properties": {
            "amount": AMOUNT,
            "currency": CURRENCY,
            "reference": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": 500},
            "customer_email": {
                "type": "string",
                "maxLength": 320,
                "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            },
            "locale": {"enum": ["auto", "en", "de", "fr", "es", "nl"]},
            "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
            "success_url": URL,
            "cancel_url": URL,
            "payment_methods": METHODS,
            "capture": {"enum": ["automatic", "manual"]},
            "metadata": {
                "type": "object",
                "maxProperties": 50,
                "propertyNames": {"minLength": 1, "maxLength": 40},
                "additionalProperties": {"type": "string", "maxLength": 500},
            },
            "expires_at": {
                "type": "integer",
                "description": "Unix time, seconds: between 30 minutes and 7 days from now (default: 24 h)",
            },
        },
    },
    "CheckoutSession": {
        "type": "object",
        "required": [
            "id",
            "object",
            "url",
            "status",
            "amount",
            "currency",
            "reference",
            "description",
            "customer_email",
            "locale",
            "country",
            "success_url",
            "cancel_url",
            "payment_methods",
            "capture",
            "payment",
            "metadata",
            "expires_at",
            "created_at",
            "livemode",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "checkout.session"},
            "url": {"type": "string"},
            "status": {"enum": ["open", "complete", "expired"]},
            "amount": {"type": "integer"},
            "currency": {"type": "string"},
            "reference": NULLABLE_STRING,
            "description": NULLABLE_STRING,
            "customer_email": NULLABLE_STRING,
            "locale": NULLABLE_STRING,
            "country": NULLABLE_STRING,
            "success_url": NULLABLE_STRING,
            "cancel_url": NULLABLE_STRING,
            "payment_methods": {"type": "array", "items": {"type": "string"}},
            "capture": {"enum": ["automatic", "manual"]},
            "payment": NULLABLE_STRING,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_at": TIMESTAMP,
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "Payment": {
        "type": "object",
        "required": [
            "id",
            "object",
            "status",
            "amount",
            "amount_captured",
            "surcharge",
            "amount_refunded",
            "currency",
            "method",
            "card",
            "failure_code",
            "failure_message",
            "checkout_session",
            "capture",
            "next_action",
            "risk",
            "created_at",
            "livemode",
            "statement_descriptor",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "payment"},
            "status": {
                "enum": [
                    "initiated",
                    "pending",
                    "requires_action",
                    "authorized",
                    "succeeded",
                    "failed",
                    "canceled",
                    "partially_refunded",
                    "refunded",
                ]
            },
            "amount": {"type": "integer"},
            "amount_captured": {"type": "integer"},
            "surcharge": {
                "type": "integer",
                "description": "Card surcharge included in amount (locality rules); 0 where none applies",
            },
            "amount_refunded": {"type": "integer"},
            "currency": {"type": "string"},
            "method": {"enum": ["card", "wallet", "bank"]},
            "card": nullable(
                {
                    "type": "object",
                    "required": ["brand", "last4", "exp_month", "exp_year", "country"],
                    "properties": {
                        "brand": NULLABLE_STRING,
                        "last4": {"type": "string"},
                        "exp_month": {"type": ["integer", "null"]},
                        "exp_year": {"type": ["integer", "null"]},
                        "country": NULLABLE_STRING,
                    },
                }
            ),
            "failure_code": NULLABLE_STRING,
            "failure_message": NULLABLE_STRING,
            "checkout_session": {"type": "string"},
            "capture": {"enum": ["automatic", "manual"]},
            "next_action": NULLABLE_STRING,
            "statement_descriptor": {
                "type": ["string", "null"],
                "description": "What the shopper's statement shows, as sent to the processor; null: the "
                "processor's default",
            },
            "risk": nullable(
                {
                    "type": "object",
                    "required": ["decision", "reasons"],
                    "properties": {
                        "decision": {"enum": ["allow", "review", "block"]},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                    },
                }
            ),
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "PaymentCapture": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"amount": AMOUNT},
    },
    "PaymentCancel": {"type": "object", "additionalProperties": False, "properties": {}},
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
    "Balance": {
        "type": "object",
        "required": ["object", "available", "pending", "reserved"],
        "properties": {
            "object": {"const": "balance"},
            "available": MONEY_LIST,
            "pending": MONEY_LIST,
            "reserved": MONEY_LIST,
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "object", "type", "created_at", "sequence", "data"],
        "properties": {
            "id": ID,
            "object": {"const": "event"},
            "type": {"type": "string"},
            "created_at": TIMESTAMP,
            "sequence": {"type": "integer", "minimum": 1},
            "data": {"type": "object"},
        },
    },
    "CheckoutSettings": {
        "type": "object",
        "required": [
            "object",
            "display_name",
            "brand_color",
            "logo",
            "statement_descriptor",
            "effective_statement_descriptor",
            "allowed_origins",
            "payment_methods",
        ],
        "properties": {
            "object": {"const": "checkout.settings"},
            "livemode": {"type": "boolean", "description": "The mode these settings are for: the key's"},
            "display_name": {"type": "string"},
            "brand_color": {"type": ["string", "null"]},
            "logo": nullable(
                {
                    "type": "object",
                    "description": "The stored logo (never its data); null: none",
                    "required": ["content_type", "bytes", "sha256"],
                    "properties": {
                        "content_type": {"enum": ["image/png", "image/jpeg", "image/webp"]},
                        "bytes": {"type": "integer", "minimum": 1},
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                }
            ),
            "statement_descriptor": {
                "type": ["string", "null"],
                "description": "The descriptor you set; null: derived from display_name",
            },
            "effective_statement_descriptor": {
                "type": "string",
                "description": "What shoppers' statements show: statement_descriptor, or the one derived "
                "from display_name",
            },
            "allowed_origins": {"type": "array", "items": {"type": "string"}},
            "payment_methods": {"type": "array", "items": {"enum": ["card", "wallet", "bank"]}},
        },
    },
    "PaymentLinkCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["currency"],
        "properties": {
            "amount": {
                **nullable(AMOUNT),
                "description": "Minor units of currency; null or left out: the shopper chooses",
            },
            "currency": CURRENCY,
            "description": {"type": "string", "maxLength": 500},
            "active": {"type": "boolean", "description": "Default true; an inactive link answers 404"},
        },
    },
    "PaymentLinkUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "description": {"type": ["string", "null"], "maxLength": 500},
            "active": {"type": "boolean"},
        },
    },
    "PaymentLink": {
        "type": "object",
        "required": [
            "id",
            "object",
            "url",
            "amount",
            "currency",
            "description",
            "active",
            "created_at",
            "livemode",
        ],
        "properties": {
            "id": ID,
            "object": {"const": "payment_link"},
            "url": {"type": "string", "description": "<base URL>/l/<slug>: each visit opens a new session"},
            "amount": {"type": ["integer", "null"], "description": "null: the shopper chooses"},
            "currency": {"type": "string"},
            "description": NULLABLE_STRING,
            "active": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "livemode": {"type": "boolean"},
        },
    },
    "CheckoutSettingsPatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "display_name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"},
            "brand_color": {"type": ["string", "null"], "pattern": "^#[0-9a-fA-F]{6}$"},
            "allowed_origins": {
                "type": "array",
                "items": {"type": "string", "maxLength": 255},
                "maxItems": 50,
            },
            "payment_methods": METHODS,
            "logo": {
                "type": ["string", "null"],
                "description": "A data URL, data:image/png;base64,… (PNG, JPEG or WebP, checked by its "
                "bytes; no SVG), at most 100 KB decoded and 4096 pixels a side; null removes the logo",
            },
            "statement_descriptor": {
                "type": ["string", "null"],
                "description": "5-22 characters: Latin letters A-Z, digits, spaces and . , - * & ', at least "
                "one letter; stored upper-cased. null: derive it from display_name",
            },
        },
    },
}

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
SCHEMAS |= {
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
SCHEMAS |= {
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


def list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            "has_more": {"type": "boolean"},
        },
    }
