"""A tenant's business profile: the legal name, postal address and support contacts shoppers see on
their receipts (core/receipts reads the same document, `tenants.business_profile`).

One profile for both modes: it names the business, not a checkout. Every field is optional (empty: not
shown); a change is checked as a whole, so one bad field changes nothing, and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Acting
from core.errors import InvalidInput
from core.geo import is_email
from tenants.lookup import tenant_by_id

FIELDS: Final = ("legal_name", "address", "support_email", "support_url")
MAX_LENGTHS: Final = {"legal_name": 200, "address": 500, "support_email": 320, "support_url": 500}


class ProfileInvalid(InvalidInput):
    """One message per field in error (`errors`); `param` and `message` are the first's."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(errors[first], param=first)
        self.errors = errors


@dataclass(frozen=True)
class BusinessProfile:
    legal_name: str | None = None
    #: Postal address, lines separated by newlines.
    address: str | None = None
    support_email: str | None = None
    support_url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in FIELDS}


def of(session: Session, *, tenant_id: str) -> BusinessProfile:
    stored = tenant_by_id(session, tenant_id).business_profile or {}
    return BusinessProfile(**{name: stored.get(name) or None for name in FIELDS})


def _clean(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text.")
    if name == "address":
        lines = [" ".join(line.split()) for line in value.replace("\r\n", "\n").split("\n")]
        text = "\n".join(line for line in lines if line)
    else:
        text = " ".join(value.split())
    if not text:
        return None
    if len(text) > MAX_LENGTHS[name]:
        raise ValueError(f"At most {MAX_LENGTHS[name]} characters.")
    if name == "support_email":
        text = text.lower()
        if not is_email(text):
            raise ValueError("Enter an email address like support@shop.example.")
    if name == "support_url":
        parts = urlsplit(text)
        if parts.scheme != "https" or not parts.hostname or "." not in parts.hostname or parts.username:
            raise ValueError("Enter an https address like https://shop.example/help.")
    return text


def validate(values: dict[str, Any]) -> BusinessProfile:
    """The profile these values make; ProfileInvalid with a message for every field in error."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ProfileInvalid({unknown[0]: f"Unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}."})
    clean: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        try:
            clean[name] = _clean(name, values.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise ProfileInvalid(errors)
    return BusinessProfile(**clean)


def update(session: Session, ctx: Acting, *, tenant_id: str, values: dict[str, Any]) -> BusinessProfile:
    """Replace the profile with `values` (every field; a missing or empty one is cleared)."""
    profile = validate(values)
    tenant = tenant_by_id(session, tenant_id)
    before = of(session, tenant_id=tenant_id)
    changed = sorted(name for name in FIELDS if getattr(before, name) != getattr(profile, name))
    if not changed:
        return profile
    tenant.business_profile = {k: v for k, v in profile.as_dict().items() if v is not None}
    session.flush()
    audit.record(
        session,
        ctx,
        actions.BUSINESS_PROFILE_UPDATED,
        subject=audit.Ref("tenant", tenant_id, tenant_id),
        details={"changed": changed},
    )
    return profile
