"""Audit action names: constants, so a grep finds every place an action is recorded."""

from typing import Final

TENANT_CREATED: Final = "tenant.created"
USER_CREATED: Final = "user.created"
MEMBERSHIP_CREATED: Final = "membership.created"
API_KEY_CREATED: Final = "api_key.created"
API_KEY_REVOKED: Final = "api_key.revoked"
PORTAL_SIGN_IN: Final = "portal.sign_in"
PORTAL_SIGN_IN_FAILED: Final = "portal.sign_in.failed"
PORTAL_SIGN_OUT: Final = "portal.sign_out"
CHECKOUT_SETTINGS_UPDATED: Final = "checkout.settings.updated"
