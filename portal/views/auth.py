"""Portal sign-in: email + password, then an authentication code (TOTP), enrolling one on first sign-in."""

from __future__ import annotations

import time

import pyotp
from flask import Response, abort, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_user, logout_user

from core.audit import actions
from core.audit import service as audit
from core.audit.models import ActorType, Outcome
from core.audit.service import Actor
from core.errors import AuthenticationFailed
from core.ratelimit import RateLimiter
from core.web.request import bind_tenant, client_ip, runtime, uow
from portal.views.forms import CodeForm, LoginForm, LogoutForm
from portal.views.session import PortalUser
from tenants import service as accounts
from tenants.models import User
from tenants.resolution import memberships_of

#: A password step is good for this long before the code must be entered.
PENDING_SECONDS = 300
MAX_CODE_ATTEMPTS = 5


def _limiter() -> RateLimiter:
    return RateLimiter(runtime().redis, name="portal-login", limit=10, window_seconds=900)


def _code_limiter() -> RateLimiter:
    # Kept server-side (not in the signed cookie, which a client could replay to reset the count).
    return RateLimiter(
        runtime().redis, name="portal-code", limit=MAX_CODE_ATTEMPTS, window_seconds=PENDING_SECONDS
    )


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
            tenant_id=tenants[0][0],
            actor=_actor(user_id),
            action=actions.PORTAL_SIGN_IN_FAILED,
            subject_type="user",
            subject_id=user_id,
            clock=rt.clock,
            kms=rt.kms,
            outcome=Outcome.FAILURE,
            details={"reason": reason},
        )


def _actor(user_id: str) -> Actor:
    from flask import g

    return Actor(ActorType.USER, user_id, origin_ip=client_ip(), request_id=g.get("request_id"))


def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        subject = f"{email}|{client_ip()}"
        if _limiter().exceeded(subject):
            form.email.errors.append("Too many attempts. Wait 15 minutes, or reset your password.")
            return render_template("portal/login.html", form=form), 429  # type: ignore[return-value]
        try:
            user = accounts.check_password(uow().session, email=email, password=form.password.data)
        except AuthenticationFailed as exc:
            _limiter().hit(subject)
            current_app.logger.warning("portal sign-in failed", extra={"outcome": "failure"})
            _audit_failure(accounts.user_id_for_email(uow().session, email), "password")
            form.password.errors.append(exc.message)
            return render_template("portal/login.html", form=form)
        tenants = memberships_of(uow().session, user.id)
        if not tenants:
            form.email.errors.append(
                "This account is not a member of any merchant account. Ask an owner to add you."
            )
            return render_template("portal/login.html", form=form), 403  # type: ignore[return-value]
        _limiter().reset(subject)
        session.clear()
        session["pending"] = {"user_id": user.id, "at": time.time()}
        if not accounts.has_totp(user):
            session["pending"]["enroll_secret"] = pyotp.random_base32(32)
            return redirect(url_for("portal.enroll"))
        return redirect(url_for("portal.login_code"))
    return render_template("portal/login.html", form=form)


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
    return user


def _code_failed(form: CodeForm, user: User) -> None:
    _audit_failure(user.id, "authentication code")
    if _code_limiter().hit(user.id) >= MAX_CODE_ATTEMPTS:
        session.pop("pending", None)
        flash("Too many wrong codes. Sign in again in a few minutes.", "error")
        abort(redirect(url_for("portal.login")))
    form.code.errors.append("That code is not valid. Enter the current code from your authenticator app.")


def login_code() -> Response | str:
    user = _pending_user()
    if _code_limiter().exceeded(user.id):
        session.pop("pending", None)
        flash("Too many wrong codes. Sign in again in a few minutes.", "error")
        return redirect(url_for("portal.login"))
    form = CodeForm()
    if form.validate_on_submit():
        rt = runtime()
        if accounts.check_totp(user, code=form.code.data, kms=rt.kms, clock=rt.clock):
            return _complete_sign_in(user)
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
    if form.validate_on_submit():
        if pyotp.TOTP(secret).verify(form.code.data.replace(" ", ""), valid_window=1):
            rt = runtime()
            accounts.set_totp_secret(user, secret=secret, kms=rt.kms)
            return _complete_sign_in(user)
        _code_failed(form, user)
    return render_template("portal/enroll.html", form=form, secret=secret, uri=uri)


def _complete_sign_in(user: User) -> Response:
    _code_limiter().reset(user.id)
    tenant_id = memberships_of(uow().session, user.id)[0][0]
    session.clear()
    session["tenant_id"] = tenant_id
    session.permanent = True
    bind_tenant(tenant_id)
    rt = runtime()
    audit.record(
        uow().session,
        tenant_id=tenant_id,
        actor=_actor(user.id),
        action=actions.PORTAL_SIGN_IN,
        subject_type="user",
        subject_id=user.id,
        clock=rt.clock,
        kms=rt.kms,
        outcome=Outcome.SUCCESS,
    )
    membership_role = dict(memberships_of(uow().session, user.id))[tenant_id]
    login_user(PortalUser(id=user.id, email=user.email, tenant_id=tenant_id, role=membership_role))
    return redirect(url_for("portal.home"))


def logout() -> Response:
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        rt = runtime()
        audit.record(
            uow().session,
            tenant_id=current_user.tenant_id,
            actor=_actor(current_user.id),
            action=actions.PORTAL_SIGN_OUT,
            subject_type="user",
            subject_id=current_user.id,
            clock=rt.clock,
            kms=rt.kms,
        )
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("portal.login"))
