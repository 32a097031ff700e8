"""Checkout settings schemas: the settings and their patch."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    METHODS,
    nullable,
)

SCHEMAS: dict[str, dict[str, Any]] = {
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
            "receipt_emails": {
                "type": "boolean",
                "description": "Whether a completed checkout emails its receipt to the shopper by itself",
            },
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
            "receipt_emails": {
                "type": "boolean",
                "description": "false: no automatic receipt email after a checkout (a shopper may still ask "
                "for one on the receipt page)",
            },
        },
    },
}
