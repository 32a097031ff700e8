"""Security headers on every response, with a fresh CSP nonce per request.

Checkout pages load only Kassa's own scripts (nonce-tagged); nothing is framed except the embed page, whose
`frame-ancestors` a view widens to the tenant's allowlist via `allow_framing()`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask import Flask, Response, g, request

HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(self)"


def csp_nonce() -> str:
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def allow_framing(origins: Iterable[str]) -> None:
    """Let these origins frame the current response (the embed page only)."""
    g.frame_ancestors = " ".join(origins) or "'none'"


def content_security_policy(nonce: str, frame_ancestors: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self'",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


def apply_headers(response: Response) -> Response:
    frame_ancestors = g.get("frame_ancestors", "'none'")
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(csp_nonce(), frame_ancestors)
    headers["Strict-Transport-Security"] = HSTS
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    if request.path.startswith(("/api/", "/portal/", "/pay/", "/embed/")) and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(apply_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
