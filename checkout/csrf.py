"""CSRF for checkout forms without a cookie.

The hosted page also runs inside the widget's iframe on the merchant's site, where browsers withhold
SameSite cookies; so the token cannot live in the session cookie. Instead it is an HMAC of the checkout
session id and the time it was issued, under the app's secret key: a page on another origin cannot read
it (same-origin policy) and cannot make one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import Form
from wtforms.csrf.core import CSRF
from wtforms.validators import ValidationError

MAX_AGE_SECONDS = 4 * 3600


class CheckoutCSRF(CSRF):
    def setup_form(self, form: Form) -> Any:
        self.context = str(form.meta.csrf_context)
        return super().setup_form(form)

    def _mac(self, issued: int) -> str:
        key = current_app.secret_key
        assert isinstance(key, str | bytes)
        secret = key.encode() if isinstance(key, str) else key
        message = f"checkout-csrf:{self.context}:{issued}".encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        issued = int(time.time())
        return f"{issued}.{self._mac(issued)}"

    def validate_csrf_token(self, form: Form, field: Any) -> None:
        issued_text, _, mac = str(field.data or "").partition(".")
        if not issued_text.isdigit() or not hmac.compare_digest(mac, self._mac(int(issued_text))):
            raise ValidationError(_l("This form is not valid any more. Reload the page and try again."))
        if time.time() - int(issued_text) > MAX_AGE_SECONDS:
            raise ValidationError(_l("This form has expired. Reload the page and try again."))
