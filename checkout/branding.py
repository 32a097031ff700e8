"""Tenant branding on the checkout, with a WCAG contrast check on the brand colour."""

from __future__ import annotations

from dataclasses import dataclass

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
class Branding:
    name: str
    #: Button colour: the tenant's, unless it cannot carry readable text (WCAG AA, 4.5:1), then Kassa's.
    color: str
    #: Text on the button: white or near-black, whichever contrasts more.
    on_color: str
    #: Focus ring and selected-tab outline, drawn on the white card: the brand colour when it stands
    #: out there (WCAG 1.4.11, 3:1), else dark text colour (a pale brand colour would hide the focus).
    accent: str


def branding(settings: dict[str, object], *, tenant_name: str) -> Branding:
    name = str(settings.get("display_name") or tenant_name)
    color = str(settings.get("brand_color") or DEFAULT_COLOR).lower()
    best_text = max(("#ffffff", "#111111"), key=lambda text: contrast(color, text))
    if contrast(color, best_text) < 4.5:
        color, best_text = DEFAULT_COLOR, "#ffffff"
    accent = color if contrast(color, CARD_BACKGROUND) >= 3 else DARK
    return Branding(name=name, color=color, on_color=best_text, accent=accent)
