"""Locale choice for translated surfaces: the checkout session's locale, then Accept-Language, then the
default language of the shopper's country (locality rules), then English."""

from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import get_locale

from core.geo import CHECKOUT_LOCALES


def select_locale() -> str:
    if not has_request_context():
        return "en"
    chosen = g.get("checkout_locale")
    if chosen in CHECKOUT_LOCALES:
        return str(chosen)
    fallback = g.get("checkout_default_locale")
    return request.accept_languages.best_match(CHECKOUT_LOCALES) or (
        str(fallback) if fallback in CHECKOUT_LOCALES else "en"
    )


def current_locale() -> str:
    """The language this request's page is in, as a string (en when there is no request)."""
    return str(get_locale() or "en")


def page_locale() -> str:
    """The language a page renders in: `current_locale()`, except under /portal, which is English throughout
    (the merchant portal is not translated: no German title or amount among its English words)."""
    if has_request_context() and (request.path == "/portal" or request.path.startswith("/portal/")):
        return "en"
    return current_locale()


def init_app(app: Flask) -> None:
    app.jinja_env.globals["get_locale"] = get_locale
