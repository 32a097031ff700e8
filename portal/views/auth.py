"""Portal sign-in: email + password, then an authentication code (TOTP), enrolling one on first sign-in."""

from __future__ import annotations

import contextlib
import time
import unicodedata
from datetime import datetime
from typing import NoReturn
from urllib.parse import urlsplit

import pyotp
from flask import Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Actor, ActorType
from core.errors import AuthenticationFailed
from core.ratelimit import LimiterUnavailable, RateLimiter
from core.web.request import actor as request_actor
from core.web.request import bind_tenant, client_ip, runtime, uow
from portal.views.forms import CodeForm, LoginForm, LogoutForm
from portal.views.session import SESSION_KEY
from tenants import portal_sessions
from tenants import service as accounts
from tenants import sign_in as lockout
from tenants.models import User
from tenants.resolution import memberships_of

#: A password step is good for this long before the code must be entered.
PENDING_SECONDS = 300
MAX_CODE_ATTEMPTS = 5
#: Failed sign-ins from one IP, whichever accounts they try, per 15 minutes (password spraying).
MAX_FAILURES_PER_IP = 50
UNAVAILABLE = "Sign-in is unavailable for a moment. Try again shortly."


def _ip_limiter() -> RateLimiter:
    # Fail closed: with Redis down, a guesser would otherwise get unlimited tries from one address.
    return RateLimiter(
        runtime().redis,
        name="portal-login-ip",
        limit=MAX_FAILURES_PER_IP,
        window_seconds=900,
        fail_closed=True,
    )


def _code_limiter() -> RateLimiter:
    # Kept server-side (not in the signed cookie, which a client could replay to reset the count).
    return RateLimiter(
        runtime().redis,
        name="portal-code",
        limit=MAX_CODE_ATTEMPTS,
        window_seconds=PENDING_SECONDS,
        fail_closed=True,
    )


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this site (the `?next=` deep link), else None.

    Refused: anything with a scheme or host (`https://…`, `//evil`), a backslash (`/\\evil`, which
    browsers read as `//evil`), whitespace or control characters (browsers drop tabs and newlines, so
    `/\t/evil` becomes `//evil`), and paths outside the portal.
    """
    if not value or len(value) > 2000:
        return None
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value) or "\\" in value:
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    if parts.path != "/portal" and not parts.path.startswith("/portal/"):
        return None
    return value


def _next_of_request() -> str | None:
    return safe_next(request.args.get("next"))


def _record_failure(user_id: str | None) -> datetime | None:
    """Count a failed attempt against the account, in its own transaction (the request's may roll
    back with a 4xx answer): the lock's end if this attempt locked it."""
    if user_id is None:
        return None
    rt = runtime()
    with rt.db.unit_of_work() as own:
        return lockout.record_failure(own.session, rt.context(own, _actor(user_id)), user_id=user_id)


def _audit_failure(user_id: str | None, reason: str) -> None:
    """Record a failed sign-in of a known user in their first tenant's chain, in its own transaction
    (the request's own transaction rolls back with the 4xx answer)."""
    if user_id is None:
        return
    rt = runtime()
    with rt.db.unit_of_work() as own:
        tenants = memberships_of(own.session, user_id)
        if not tenants:
            return
        own.bind_tenant(tenants[0][0])
        audit.record(
            own.session,
            rt.acting(_actor(user_id)),
            actions.PORTAL_SIGN_IN_FAILED,
            subject=audit.Ref("user", user_id, tenants[0][0]),
            outcome=Outcome.FAILURE,
            details={"reason": reason},
        )


def _actor(user_id: str) -> Actor:
    return request_actor(ActorType.USER, user_id)


def _login_page(form: LoginForm, status: int = 200) -> tuple[str, int]:
    return render_template("portal/login.html", form=form, next=_next_of_request()), status


def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(_next_of_request() or url_for("portal.home"))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form)
    rt = runtime()
    email = form.email.data.strip().lower()
    user_id = accounts.user_id_for_email(uow().session, email)
    try:
        # First the lock, from the database: it holds whatever the IP, and with Redis down.
        if user_id is not None:
            lockout.check_not_locked(uow().session, user_id=user_id, clock=rt.clock)
        if _ip_limiter().exceeded(client_ip() or ""):
            form.email.errors.append("Too many attempts from your network. Wait 15 minutes.")
            return _login_page(form, 429)
        user = accounts.check_password(uow().session, email=email, password=form.password.data)
    except lockout.AccountLocked as exc:
        form.email.errors.append(exc.message)
        return _login_page(form, 403)
    except LimiterUnavailable:
        form.email.errors.append(UNAVAILABLE)
        return _login_page(form, 503)
    except accounts.AccountDisabled as exc:
        _audit_failure(user_id, "disabled")
        form.email.errors.append(exc.message)
        return _login_page(form, 403)
    except AuthenticationFailed as exc:
        current_app.logger.warning("portal sign-in failed", extra={"outcome": "failure"})
        _audit_failure(user_id, "password")
        locked_until = _record_failure(user_id)
        # Redis down: this attempt is refused anyway; the next one meets the closed limiter.
        with contextlib.suppress(LimiterUnavailable):
            _ip_limiter().hit(client_ip() or "")
        if locked_until is not None:
            form.email.errors.append(lockout.AccountLocked(locked_until).message)
            return _login_page(form, 403)
        form.password.errors.append(exc.message)
        return _login_page(form)
    tenants = memberships_of(uow().session, user.id)
    if not tenants:
        form.email.errors.append(
            "This account is not a member of any merchant account. Ask an owner to add you."
        )
        return _login_page(form, 403)
    session.clear()
    session["pending"] = {"user_id": user.id, "at": time.time(), "next": _next_of_request()}
    if not accounts.has_totp(user):
        session["pending"]["enroll_secret"] = pyotp.random_base32(32)
        return redirect(url_for("portal.enroll"))
    return redirect(url_for("portal.login_code"))


def _pending_user() -> User:
    pending = session.get("pending")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop("pending", None)
        flash("Your sign-in expired. Enter your email and password again.", "error")
        abort(redirect(url_for("portal.login")))
    user = uow().session.get(User, pending["user_id"])
    if user is None or user.disabled:
        session.pop("pending", None)
        abort(redirect(url_for("portal.login")))
    try:
        # Locked meanwhile (by guesses from elsewhere): the code step ends too.
        lockout.check_not_locked(uow().session, user_id=user.id, clock=runtime().clock)
    except lockout.AccountLocked as exc:
        _restart_sign_in(exc.message)
    return user


def _restart_sign_in(message: str) -> NoReturn:
    session.pop("pending", None)
    flash(message, "error")
    abort(redirect(url_for("portal.login")))


def _code_failed(form: CodeForm, user: User) -> None:
    _audit_failure(user.id, "authentication code")
    locked_until = _record_failure(user.id)
    if locked_until is not None:
        _restart_sign_in(lockout.AccountLocked(locked_until).message)
    try:
        count = _code_limiter().hit(user.id)
    except LimiterUnavailable:
        _restart_sign_in(UNAVAILABLE)
    if count >= MAX_CODE_ATTEMPTS:
        _restart_sign_in("Too many wrong codes. Sign in again in a few minutes.")
    form.code.errors.append("That code is not valid. Enter the current code from your authenticator app.")


def _check_code_attempts(user: User) -> None:
    try:
        exceeded = _code_limiter().exceeded(user.id)
    except LimiterUnavailable:
        _restart_sign_in(UNAVAILABLE)
    if exceeded:
        _restart_sign_in("Too many wrong codes. Sign in again in a few minutes.")


def login_code() -> Response | str:
    user = _pending_user()
    _check_code_attempts(user)
    form = CodeForm()
    if form.validate_on_submit():
        rt = runtime()
        if lockout.accept_totp(uow().session, user=user, code=form.code.data, kms=rt.kms, clock=rt.clock):
            return _complete_sign_in(user)
        # The refused code's UPDATE matched nothing but opened a write transaction; end it before the
        # failure is counted in a transaction of its own (SQLite allows one writer at a time).
        uow().rollback()
        _code_failed(form, user)
        return render_template("portal/login_code.html", form=form)
    return render_template("portal/login_code.html", form=form)


def enroll() -> Response | str:
    user = _pending_user()
    secret = session["pending"].get("enroll_secret")
    if not secret:
        return redirect(url_for("portal.login_code"))
    form = CodeForm()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="Kassa")
    _check_code_attempts(user)
    if form.validate_on_submit():
        rt = runtime()
        if lockout.enroll_totp(
            uow().session, user=user, secret=secret, code=form.code.data, kms=rt.kms, clock=rt.clock
        ):
            return _complete_sign_in(user)
        _code_failed(form, user)
    return render_template("portal/enroll.html", form=form, secret=secret, uri=uri)


def _complete_sign_in(user: User) -> Response:
    _code_limiter().reset(user.id)
    rt = runtime()
    next_url = safe_next(session["pending"].get("next"))
    tenant_id = memberships_of(uow().session, user.id)[0][0]
    lockout.clear_failures(uow().session, user_id=user.id)
    token = portal_sessions.start(
        uow().session,
        user_id=user.id,
        tenant_id=tenant_id,
        ip=client_ip(),
        user_agent=request.user_agent.string,
        clock=rt.clock,
    )
    # The cookie keeps nothing but the new session's token: whatever it held before sign-in is gone.
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = True
    bind_tenant(tenant_id)
    audit.record(
        uow().session,
        rt.context(uow(), _actor(user.id)),
        actions.PORTAL_SIGN_IN,
        subject=audit.Ref("user", user.id, tenant_id),
        outcome=Outcome.SUCCESS,
    )
    return redirect(next_url or url_for("portal.home"))


def logout() -> Response:
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        rt = runtime()
        portal_sessions.revoke(
            uow().session, token=session[SESSION_KEY], reason=portal_sessions.SIGN_OUT, clock=rt.clock
        )
        audit.record(
            uow().session,
            rt.context(uow(), _actor(current_user.id)),
            actions.PORTAL_SIGN_OUT,
            subject=audit.Ref("user", current_user.id, current_user.tenant_id),
        )
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("portal.login"))


def logout_everywhere() -> Response:
    """End every session of the signed-in user, on every device, this one included."""
    form = LogoutForm()
    if not form.validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return redirect(url_for("portal.account"))
    rt = runtime()
    ended = portal_sessions.revoke_all(
        uow().session, user_id=current_user.id, reason=portal_sessions.SIGN_OUT_EVERYWHERE, clock=rt.clock
    )
    audit.record(
        uow().session,
        rt.context(uow(), _actor(current_user.id)),
        actions.PORTAL_SIGN_OUT_EVERYWHERE,
        subject=audit.Ref("user", current_user.id, current_user.tenant_id),
        details={"sessions_revoked": ended},
    )
    session.clear()
    flash(f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).", "info")
    return redirect(url_for("portal.login"))
