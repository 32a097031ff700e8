"""Tenant branding on the checkout: the logo response; the branding itself (name, logo, statement
descriptor, the brand colour with a WCAG contrast check) is tenants/branding.py's, shared with the
portal's preview."""

from __future__ import annotations

from flask import Response, abort, request
from sqlalchemy.orm import Session

from tenants import logos
from tenants.branding import (
    CARD_BACKGROUND,
    DARK,
    DEFAULT_COLOR,
    Branding,
    Logo,
    branding,
    contrast,
    of_tenant,
)

__all__ = [
    "CARD_BACKGROUND",
    "DARK",
    "DEFAULT_COLOR",
    "Branding",
    "Logo",
    "branding",
    "contrast",
    "logo_response",
    "of_tenant",
]


def logo_response(session: Session, *, tenant_id: str, livemode: bool) -> Response:
    """The tenant's logo (of the page's mode) as an image response (404 when it has none), for a page on
    Kassa's own origin.

    Cookie-less and cacheable: the page links it with `?v=<version>`, and a new logo has a new version,
    so a request naming the current version may be kept for a year; any other is revalidated by ETag.
    """
    found = logos.load(session, tenant_id=tenant_id, livemode=livemode)
    if found is None:
        abort(404)
    info, data = found
    response = Response(data, mimetype=info.content_type)
    response.set_etag(info.sha256)  # strong: the hash of these very bytes
    if request.args.get("v") == info.version:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    # Kassa's pages only: other sites cannot hot-link a merchant's logo through Kassa.
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response.make_conditional(request)
