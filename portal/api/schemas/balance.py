"""The balance schema."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    MONEY_LIST,
)

SCHEMAS: dict[str, dict[str, Any]] = {
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
}
