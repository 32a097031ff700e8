"""A tenant's checkout settings: display name, brand colour, logo, statement descriptor, widget origins,
payment methods, receipt emails on or off.

Each mode has its own settings (`Tenant.checkout_settings` for test, `Tenant.live_checkout_settings` for
live, and a logo per mode): an API key reads and writes its own mode's, and a checkout page shows its
session's (or payment link's) mode. A test key cannot change what a live checkout shows, offers, allows to
frame it, or prints on the shopper's statement.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from core import descriptors
from core.audit import actions
from core.audit import service as audit
from core.context import Acting
from core.errors import InvalidInput
from core.payments.sessions import SessionTerms
from tenants import logos
from tenants.lookup import tenant_by_id
from tenants.models import Tenant

METHODS = ("card", "wallet", "bank")
FIELDS = (
    "allowed_origins",
    "display_name",
    "brand_color",
    "payment_methods",
    "logo",
    "statement_descriptor",
    "receipt_emails",
)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: A DNS label (letters, digits, inner hyphens).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: A bare origin, lower case: scheme, a DNS name, an IPv4 address or [::1], an optional port, and at most a
#: trailing "/".
_ORIGIN = re.compile(rf"(https?)://({_LABEL}(?:\.{_LABEL})*|\[::1\])(?::([0-9]{{1,5}}))?/?", re.ASCII)
#: Characters that would end a source in a CSP directive or start a new one.
_SEPARATORS = frozenset(";,'\"`")
#: Where a plain-http origin is allowed (a merchant's page in development).
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def stored_of(tenant: Tenant, *, livemode: bool) -> dict[str, Any]:
    """The settings document of one mode, as stored (missing keys take their defaults)."""
    return dict((tenant.live_checkout_settings if livemode else tenant.checkout_settings) or {})


def _store(tenant: Tenant, stored: dict[str, Any], *, livemode: bool) -> None:
    if livemode:
        tenant.live_checkout_settings = stored
    else:
        tenant.checkout_settings = stored


def statement_descriptor_of(tenant: Tenant, *, livemode: bool) -> str:
    """What the statements of this tenant's shoppers show in this mode: the descriptor it set, else one
    derived from its display name (core/descriptors.py)."""
    stored = stored_of(tenant, livemode=livemode)
    chosen = stored.get("statement_descriptor")
    if chosen:
        return str(chosen)
    return descriptors.derive(str(stored.get("display_name") or tenant.name), slug=tenant.slug)


def payment_methods_of(tenant: Tenant, *, livemode: bool) -> list[str]:
    """The methods the tenant's checkout offers in this mode (all of them until it narrows them)."""
    return list(stored_of(tenant, livemode=livemode).get("payment_methods", METHODS))


def receipt_emails_of(tenant: Tenant, *, livemode: bool) -> bool:
    """Whether a completed checkout of this mode emails its receipt by itself (on until switched off;
    core/receipts reads the same key)."""
    return bool(stored_of(tenant, livemode=livemode).get("receipt_emails", True))


def allowed_origins_of(tenant: Tenant, *, livemode: bool) -> list[str]:
    """The merchant origins that may frame the tenant's embedded checkout in this mode (none until it
    names some). Only bare origins: one stored before origins were checked this strictly is left out
    (it would reach the embed page's CSP)."""
    return [o for o in stored_of(tenant, livemode=livemode).get("allowed_origins", []) if _is_origin(o)]


def view(session: Session, *, tenant_id: str, livemode: bool) -> dict[str, Any]:
    tenant = tenant_by_id(session, tenant_id)
    stored = stored_of(tenant, livemode=livemode)
    logo = logos.info(stored)
    return {
        "object": "checkout.settings",
        "livemode": livemode,
        "display_name": stored.get("display_name", tenant.name),
        "brand_color": stored.get("brand_color"),
        "logo": logo.summary() if logo is not None else None,
        "statement_descriptor": stored.get("statement_descriptor"),
        "effective_statement_descriptor": statement_descriptor_of(tenant, livemode=livemode),
        "allowed_origins": allowed_origins_of(tenant, livemode=livemode),
        "payment_methods": payment_methods_of(tenant, livemode=livemode),
        "receipt_emails": receipt_emails_of(tenant, livemode=livemode),
    }


def session_terms(session: Session, *, tenant_id: str, livemode: bool) -> SessionTerms:
    """What creating a checkout session needs to know of its tenant: methods offered (in the session's
    mode) and country."""
    tenant = tenant_by_id(session, tenant_id)
    return SessionTerms(
        tenant_id=tenant_id,
        livemode=livemode,
        allowed_methods=payment_methods_of(tenant, livemode=livemode),
        country=tenant.country,
    )


def _bad_origin(message: str) -> InvalidInput:
    return InvalidInput(message, param="allowed_origins")


def normalize_origin(value: object) -> str:
    """`value` as a bare origin, `scheme://host[:port]` in lower case; InvalidInput saying what is wrong.

    Origins go verbatim into the embed page's CSP (`frame-ancestors`), so nothing but a bare origin may
    pass: a space, `;`, `,` or a quote could add sources or whole directives to the policy."""
    if not isinstance(value, str) or not value or len(value) > 255:
        raise _bad_origin("Each allowed origin must be a string like https://shop.example.")
    if any(char.isspace() or char in _SEPARATORS for char in value):
        raise _bad_origin(
            f"{value!r} is not one origin: it holds a space, ';', ',' or a quote. "
            "Give each origin as its own list item, like https://shop.example."
        )
    if "*" in value:
        raise _bad_origin(f"{value!r}: wildcards are not allowed; list each origin.")
    if "@" in value:
        raise _bad_origin(f"{value!r}: origins cannot hold credentials.")
    match = _ORIGIN.fullmatch(value.lower())
    if match is None:
        raise _bad_origin(
            f"{value!r} is not an origin: use scheme and host only (and a port), with no path, query or "
            "fragment, e.g. https://shop.example or http://localhost:3000."
        )
    scheme, host, port = match.groups()
    if scheme == "http" and host not in _LOCAL_HOSTS:
        raise _bad_origin(f"{value!r}: use https (http only for localhost, 127.0.0.1 and [::1]).")
    if port is not None and not 1 <= int(port) <= 65535:
        raise _bad_origin(f"{value!r}: the port must be a number from 1 to 65535.")
    return f"{scheme}://{host}" + (f":{int(port)}" if port is not None else "")


def _is_origin(value: object) -> bool:
    try:
        return normalize_origin(value) == value
    except InvalidInput:
        return False


def update(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    livemode: bool,
    changes: dict[str, Any],
) -> dict[str, Any]:
    """Change the settings of one mode (`livemode`: the caller's key's); the other mode's are untouched."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0]!r}; settable fields are {', '.join(FIELDS)}.", param=unknown[0]
        )
    tenant = tenant_by_id(session, tenant_id)
    stored = stored_of(tenant, livemode=livemode)
    if "allowed_origins" in changes:
        origins = changes["allowed_origins"]
        if not isinstance(origins, list) or len(origins) > 50:
            raise InvalidInput(
                "allowed_origins must be a list of at most 50 origins.", param="allowed_origins"
            )
        stored["allowed_origins"] = sorted({normalize_origin(o) for o in origins})
    if "display_name" in changes:
        name = changes["display_name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise InvalidInput("display_name must be 1-100 characters.", param="display_name")
        stored["display_name"] = name.strip()
    if "brand_color" in changes:
        color = changes["brand_color"]
        if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
            raise InvalidInput("brand_color must be a hex colour like #1a73e8, or null.", param="brand_color")
        stored["brand_color"] = color.lower() if color else None
    if "payment_methods" in changes:
        methods = changes["payment_methods"]
        if not isinstance(methods, list) or not methods or any(m not in METHODS for m in methods):
            raise InvalidInput(
                f"payment_methods must be a non-empty list drawn from {', '.join(METHODS)}.",
                param="payment_methods",
            )
        stored["payment_methods"] = [m for m in METHODS if m in methods]
    if "receipt_emails" in changes:
        if not isinstance(changes["receipt_emails"], bool):
            raise InvalidInput("receipt_emails must be true or false.", param="receipt_emails")
        stored["receipt_emails"] = changes["receipt_emails"]
    details: dict[str, Any] = {"changed": sorted(changes), "livemode": livemode}
    if "statement_descriptor" in changes:
        descriptor = changes["statement_descriptor"]
        if descriptor is not None and not isinstance(descriptor, str):
            raise InvalidInput("statement_descriptor must be a string or null.", param="statement_descriptor")
        stored["statement_descriptor"] = descriptors.normalize(descriptor) if descriptor is not None else None
        details["statement_descriptor"] = stored["statement_descriptor"]
    if "logo" in changes:
        image = logos.parse(changes["logo"]) if changes["logo"] is not None else None
        # The audit trail names the image by type, size and hash; the bytes are in tenant_logos only.
        details["logo"] = image.summary() if image is not None else None
        logos.replace(session, tenant_id=tenant_id, livemode=livemode, image=image, clock=ctx.clock)
        stored["logo"] = logos.LogoInfo.of(image).settings_entry() if image is not None else None
    _store(tenant, stored, livemode=livemode)
    audit.record(
        session,
        ctx,
        actions.CHECKOUT_SETTINGS_UPDATED,
        subject=audit.Ref("tenant", tenant_id, tenant_id),
        details=details,
    )
    session.flush()
    return view(session, tenant_id=tenant_id, livemode=livemode)
