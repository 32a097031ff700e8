"""The embed page: the hosted page in compact mode, inside the widget's iframe on a merchant's page.

Every checkout step has a twin under `/embed/` (checkout/blueprint.py): the same views, with
`g.embedded` set, so the whole flow (form, 3DS or approval page, status, receipt) stays in the iframe.
The URL processors below carry the mode, and the merchant page's origin, from one step's URLs to the
next, so `url_for("checkout.status", …)` in a view or a template answers `/embed/…` in embed mode and
`/pay/…` otherwise: the views and templates need no embed branches of their own.

Who may frame it: the tenant's allowed origins (checkout settings), as `frame-ancestors`; with an empty
allowlist nothing may. Whom it talks to: the widget passes `?origin=<the merchant page's origin>`; the page
posts messages (ready, resize, success, failure) only to that origin, and only when it is on the
allowlist, through the Kassa-served `static/widget/v1/embed.js` (no inline script).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask_babel import gettext as _

from core.context import ActorType
from core.errors import InvalidInput, NotFound
from core.payments.models import CheckoutSession
from core.web.request import actor, runtime, uow
from core.web.security import allow_framing
from tenants import api_keys, checkout_settings
from tenants.lookup import tenant_by_id
from tenants.models import KeyKind, KeyMode
from tenants.resolution import lookup_key

#: URL rule default that tells an embed rule (True) from its hosted-page twin (False).
MODE_ARG = "embed"
ORIGIN_ARG = "origin"
KEY_ARG = "key"
SCRIPT = "widget/v1/embed.js"


def is_embedded() -> bool:
    return bool(g.get("embedded"))


def _take_mode(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """url_value_preprocessor: the views never see the rule's `embed` default, only `g.embedded`."""
    if values is not None and MODE_ARG in values:
        g.embedded = bool(values.pop(MODE_ARG))


def _keep_mode(endpoint: str, values: dict[str, Any]) -> None:
    """url_defaults: URLs built during an embed request stay in embed mode and keep the parent's origin."""
    if not current_app.url_map.is_endpoint_expecting(endpoint, MODE_ARG):
        return
    embedded = is_embedded()
    values.setdefault(MODE_ARG, embedded)
    origin = g.get("embed_origin")
    if embedded and values[MODE_ARG] and origin:
        values.setdefault(ORIGIN_ARG, origin)


def _parent_origin(requested: str | None, allowed: list[str]) -> str | None:
    """The merchant page's origin as the widget gave it, if the tenant allows it; else None (no messages)."""
    if not requested:
        return None
    try:
        origin = checkout_settings.normalize_origin(requested)
    except InvalidInput:
        return None
    return origin if origin in allowed else None


def _check_key(key: str, cs: CheckoutSession) -> None:
    """The widget's publishable key must be the session's tenant's, in the session's mode."""
    rt = runtime()
    owner = lookup_key(uow().session, key)
    reason = owner.refusal(rt.clock.now()) if owner is not None else None
    if owner is not None and reason is not None and owner.tenant_id == cs.tenant_id:
        # A revoked (or rolled and expired) publishable key: refused like any wrong key, and audited.
        uow().rollback()
        refused = rt.acting(actor(ActorType.API_KEY, owner.key_id))
        with rt.db.unit_of_work(tenant_id=owner.tenant_id) as audit_uow:
            api_keys.record_refused_use(audit_uow.session, refused, owner=owner, reason=reason)
    if (
        owner is None
        or reason is not None
        or owner.kind is not KeyKind.PUBLISHABLE
        or owner.tenant_id != cs.tenant_id
        or (owner.mode is KeyMode.LIVE) != cs.livemode
    ):
        raise NotFound(
            _(
                "This payment cannot be shown here: the widget's publishable key belongs to another "
                "account or mode than the checkout session."
            )
        )


def enter(cs: CheckoutSession) -> None:
    """In embed mode, for the session just loaded: frame for its tenant's origins, find the parent."""
    if not is_embedded():
        return
    allowed = checkout_settings.allowed_origins_of(
        tenant_by_id(uow().session, cs.tenant_id), livemode=cs.livemode
    )
    allow_framing(allowed)
    g.embed_origin = _parent_origin(request.args.get(ORIGIN_ARG), allowed)
    key = request.args.get(KEY_ARG)
    if key:
        _check_key(key, cs)


def notify(event_type: str, **data: Any) -> None:
    """Have this embed page tell the parent page `event_type` once it has loaded (success, failure)."""
    if is_embedded():
        g.embed_event = {"type": event_type, **data}


def script_attributes() -> dict[str, str]:
    """Attributes of the embed script tag: what it needs to talk to the parent, as data attributes."""
    return {
        "id": "kassa-embed",
        "data-origin": g.get("embed_origin") or "",
        "data-event": json.dumps(g.get("embed_event") or {}, separators=(",", ":")),
    }


def _widget_cors(response: Response) -> Response:
    """The widget is loaded by merchants' pages with `integrity` + `crossorigin`, which needs CORS."""
    if request.path.startswith("/static/widget/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def init_blueprint(bp: Blueprint) -> None:
    bp.after_app_request(_widget_cors)
    bp.url_value_preprocessor(_take_mode)
    bp.url_defaults(_keep_mode)
    bp.context_processor(lambda: {"embed_script_attributes": script_attributes, "embed_script": SCRIPT})


def widget_sri() -> str:
    """The Subresource Integrity value of the published widget, for docs/widget.md."""
    data = (Path(__file__).resolve().parent.parent / "static" / "widget" / "v1" / "kassa.js").read_bytes()
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")
