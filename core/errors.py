"""Domain errors. Raised in core/ and tenants/, translated to HTTP in one place (core/web/errors.py)."""

from __future__ import annotations


class KassaError(Exception):
    """Base class: `code` is stable (API clients switch on it), `message` says what to do."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    #: True: the work done before the error stands and is committed with the error answer (it records
    #: something that already happened outside Kassa, e.g. money the processor moved). False: rolled back.
    keeps_effects = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidInput(KassaError):
    code = "parameter_invalid"


class NotFound(KassaError):
    status = 404
    code = "resource_missing"


class Conflict(KassaError):
    status = 409
    code = "conflict"


class PermissionDenied(KassaError):
    """The caller is known, but its role or key does not hold the permission the route declares."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class AuthenticationFailed(KassaError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
