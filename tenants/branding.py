"""Checkout branding as shoppers see it: name, logo, statement descriptor, and the brand colour with a
WCAG contrast check. The hosted page (checkout/branding.py) and the portal's live preview of it
(portal/views/settings.py) both draw it from here, so the preview shows what the page will.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenants import checkout_settings, logos
from tenants.models import Tenant

DEFAULT_COLOR = "#0b57d0"
#: The card's background, and the dark text colour of checkout.css.
CARD_BACKGROUND = "#ffffff"
DARK = "#1b1f24"


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Logo:
    """The tenant's logo as the page loads it: from Kassa's own origin (tenants/logos.py)."""

    url: str
    #: Intrinsic pixel size, for the img attributes: the browser reserves the box before the image loads.
    width: int
    height: int


@dataclass(frozen=True)
class Branding:
    name: str
    #: Button colour: the tenant's, unless it cannot carry readable text (WCAG AA, 4.5:1), then Kassa's.
    color: str
    #: Text on the button: white or near-black, whichever contrasts more.
    on_color: str
    #: Focus ring and selected-tab outline, drawn on the white card: the brand colour when it stands
    #: out there (WCAG 1.4.11, 3:1), else dark text colour (a pale brand colour would hide the focus).
    accent: str
    #: Shown in the header, with `name` as its text alternative; None: the tenant has none.
    logo: Logo | None = None
    #: What the shopper's statement will show (tenants/checkout_settings.py); None: not shown.
    statement_descriptor: str | None = None


def branding(
    settings: dict[str, object],
    *,
    tenant_name: str,
    logo: Logo | None = None,
    statement_descriptor: str | None = None,
) -> Branding:
    name = str(settings.get("display_name") or tenant_name)
    color = str(settings.get("brand_color") or DEFAULT_COLOR).lower()
    best_text = max(("#ffffff", "#111111"), key=lambda text: contrast(color, text))
    if contrast(color, best_text) < 4.5:
        color, best_text = DEFAULT_COLOR, "#ffffff"
    accent = color if contrast(color, CARD_BACKGROUND) >= 3 else DARK
    return Branding(
        name=name,
        color=color,
        on_color=best_text,
        accent=accent,
        logo=logo,
        statement_descriptor=statement_descriptor,
    )


def of_tenant(tenant: Tenant, *, livemode: bool, logo_url: Callable[[str], str]) -> Branding:
    """The branding a checkout page shows, in the page's mode (the session's or the payment link's).
    `logo_url(version)` builds the URL of the logo on this page's surface, with the logo's version in it."""
    stored = checkout_settings.stored_of(tenant, livemode=livemode)
    found = logos.info(stored)
    logo = Logo(url=logo_url(found.version), width=found.width, height=found.height) if found else None
    return branding(
        stored,
        tenant_name=tenant.name,
        logo=logo,
        statement_descriptor=checkout_settings.statement_descriptor_of(tenant, livemode=livemode),
    )
