"""The portal's test/live switch: one mode per portal session, shown on every page.

Every list, detail, setting and key screen of the portal shows the objects of one mode at a time, the
mode this module reads: `livemode()` is what a screen passes to the core queries (`livemode=...`). The
mode is kept in the signed session cookie beside the session token, so it lasts as long as the portal
session: a new sign-in (which clears the cookie) starts in test mode, as no money moves there.
"""

from __future__ import annotations

from typing import Final

from flask import session

#: The key of the mode in Flask's signed session cookie ("live" or "test").
MODE_KEY: Final = "mode"
LIVE: Final = "live"
TEST: Final = "test"
MODES: Final = (TEST, LIVE)


def livemode() -> bool:
    """Whether this portal session is in live mode (False: test mode, the default)."""
    return session.get(MODE_KEY) == LIVE


def mode() -> str:
    """The mode's name, "test" or "live"."""
    return LIVE if livemode() else TEST


def set_mode(name: str) -> None:
    if name not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {name!r}")
    session[MODE_KEY] = name
