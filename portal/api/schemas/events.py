"""The event schema."""

from __future__ import annotations

from typing import Any

from portal.api.schemas.common import (
    ID,
    TIMESTAMP,
)

SCHEMAS: dict[str, dict[str, Any]] = {
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
}
