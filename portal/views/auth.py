"""Portal sign-in: email + password, then an authentication code (TOTP) or a recovery code, enrolling TOTP
(with ten recovery codes) on first sign-in; "Forgot password" and its emailed link.

The rules (limits, lockout, audit) are tenants/sign_in.py's `SignIn` and tenants/password_reset.py; a
view here keeps the pending step in the signed cookie, calls one step and maps its errors to the form.
"""

from __future__ import annotations

import time
import unicodedata
from typing import NoReturn
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Actor, ActorType, Context
from core.errors import AuthenticationFailed, InvalidInput
from core.ratelimit import LimiterUnavailable, RateLimiter
from core.web.request import actor as request_actor
from core.web.request import bind_tenant, client_ip, context, runtime, uow
from portal.views.forms import (
    CodeForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    NewPasswordForm,
    RecoveryCodeForm,
)
from portal.views.session import SESSION_KEY
from tenants import password_reset, portal_sessions, sso
from tenants import sign_in as flow
from tenants.models import User

#: A password step is good for this long before the code must be entered.
PENDING_SECONDS = flow.PENDING_SECONDS


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


def actor(user_id: str) -> Actor:
    """The signed-in (or signing-in) user as the audit records them: with IP, request id, browser."""
    return request_actor(ActorType.USER, user_id)


def user_context(user_id: str) -> Context:
    return context(actor(user_id))


def _sign_in() -> flow.SignIn:
    # Nobody is known yet: the steps act as the person once their password is right.
    return flow.SignIn(uow().session, context(request_actor(ActorType.SYSTEM, "portal-sign-in")))


def _no_store(body: str, status: int = 200) -> Response:
    """A page with a secret on it (recovery codes, a setup key): never cached, never kept in history."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(form: LoginForm, status: int = 200) -> tuple[str, int]:
    return render_template("portal/login.html", form=form, next=_next_of_request()), status


def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(_next_of_request() or url_for("portal.home"))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form)
    try:
        user = _sign_in().password(email=form.email.data, password=form.password.data)
    except (flow.SignInRefused, flow.AccountLocked) as exc:
        # The refused attempt was counted and audited in the request's transaction: keep it with the
        # 4xx answer (a 500 still rolls back: this is set only for the refusals Kassa made).
        g.commit_on_error = True
        form.email.errors.append(exc.message)
        return _login_page(form, exc.status)
    except AuthenticationFailed as exc:  # a disabled account (403), or email or password incorrect (200)
        g.commit_on_error = True
        if isinstance(exc, flow.accounts.AccountDisabled):
            form.email.errors.append(exc.message)
            return _login_page(form, 403)
        form.password.errors.append(exc.message)
        return _login_page(form)
    if (sso_page := _sso_required(user)) is not None:
        return sso_page
    session.clear()
    session["pending"] = {"user_id": user.id, "at": time.time(), "next": _next_of_request()}
    if not flow.accounts.has_totp(user):
        session["pending"]["enroll_secret"] = flow.new_totp_secret()
        return redirect(url_for("portal.enroll"))
    return redirect(url_for("portal.login_code"))


def _sso_required(user: User) -> tuple[str, int] | None:
    """After a right password: the page sending the user to their provider when one of their merchant
    accounts requires single sign-on (portal/views/sso.py); None: the password sign-in goes on."""
    found = sso.sso_required_tenant(uow().session, user_id=user.id)
    if found is None:
        return None
    tenant, provider = found
    g.commit_on_error = True  # the refusal's audit row stands with the 403
    bind_tenant(tenant.id)  # the refusal goes to the chain of the tenant that requires single sign-on
    audit.record(
        uow().session,
        user_context(user.id),
        actions.PORTAL_SIGN_IN_FAILED,
        subject=audit.Ref("user", user.id, tenant.id),
        outcome=Outcome.FAILURE,
        details={"reason": "sso required"},
    )
    start_url = url_for("portal.sso_start", slug=tenant.slug, next=_next_of_request())
    page = render_template("portal/sso_required.html", tenant=tenant, provider=provider, start_url=start_url)
    return page, 403


def _complete_sign_in(user: User) -> Response:
    """The end of a single sign-on whose provider's `amr` satisfied MFA (portal/views/sso.py)."""
    pending = session["pending"]
    return _complete(
        _sign_in(),
        user,
        how=pending.get("mfa", "totp"),
        method=pending.get("method", "password"),
        tenant_id=pending.get("tenant_id"),
    )


def _restart(message: str) -> NoReturn:
    session.pop("pending", None)
    flash(message, "error")
    abort(redirect(url_for("portal.login")))


def _pending_user(service: flow.SignIn) -> User:
    pending = session.get("pending")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        _restart("Your sign-in expired. Enter your email and password again.")
    try:
        return service.pending(pending["user_id"])
    except flow.RestartSignIn as exc:
        _restart(exc.message)


def login_code() -> Response | str:
    service = _sign_in()
    user = _pending_user(service)
    if session["pending"].get("enroll_secret"):
        return redirect(url_for("portal.enroll"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            service.code(user, code=form.code.data)
        except flow.RestartSignIn as exc:
            _restart(exc.message)
        except flow.CodeRefused as exc:
            form.code.errors.append(exc.message)
        else:
            return _complete(service, user, how="totp")
    return render_template("portal/login_code.html", form=form)


def login_recovery() -> Response | str:
    service = _sign_in()
    user = _pending_user(service)
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        try:
            left = service.recovery_code(user, code=form.code.data)
        except flow.RestartSignIn as exc:
            _restart(exc.message)
        except flow.CodeRefused as exc:
            form.code.errors.append(exc.message)
        else:
            response = _complete(service, user, how="recovery_code")
            flash(
                f"You signed in with a recovery code; {left} of 10 left. "
                "Make new ones on your account page if you are running out.",
                "info",
            )
            return response
    return render_template("portal/login_recovery.html", form=form)


def enroll() -> Response | str:
    service = _sign_in()
    user = _pending_user(service)
    secret = session["pending"].get("enroll_secret")
    if not secret:
        return redirect(url_for("portal.login_code"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = service.enroll(user, secret=secret, code=form.code.data)
        except flow.RestartSignIn as exc:
            _restart(exc.message)
        except flow.CodeRefused as exc:
            form.code.errors.append(exc.message)
        else:
            next_url = safe_next(session["pending"].get("next"))
            _complete(service, user, how="totp")
            # Shown in this answer only: Kassa keeps nothing but their keyed hashes.
            return _no_store(
                render_template(
                    "portal/recovery_codes.html", codes=codes, continue_url=next_url or url_for("portal.home")
                )
            )
    enrollment = flow.enrollment_for(user.email, secret)
    return _no_store(render_template("portal/enroll.html", form=form, enrollment=enrollment))


def _complete(
    service: flow.SignIn,
    user: User,
    *,
    how: str,
    method: str | None = None,
    tenant_id: str | None = None,
) -> Response:
    pending = session["pending"]
    next_url = safe_next(pending.get("next"))
    # Single sign-on names the tenant whose provider vouched for the user (portal/views/sso.py).
    token, tenant_id = service.complete(
        user,
        how=how,
        method=method or pending.get("method", "password"),
        tenant_id=tenant_id or pending.get("tenant_id"),
    )
    # The cookie keeps nothing but the new session's token: whatever it held before sign-in is gone.
    session.clear()
    session[SESSION_KEY] = token
    session.permanent = True
    bind_tenant(tenant_id)
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
            user_context(current_user.id),
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
        user_context(current_user.id),
        actions.PORTAL_SIGN_OUT_EVERYWHERE,
        subject=audit.Ref("user", current_user.id, current_user.tenant_id),
        details={"sessions_revoked": ended},
    )
    session.clear()
    flash(f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).", "info")
    return redirect(url_for("portal.login"))


# --- "Forgot password" -------------------------------------------------------------------------------------

SENT = (
    "If an account exists for that address, we've emailed it a link to choose a new password. "
    "The link works once, for 30 minutes."
)


def _reset_limiter(name: str, limit: int) -> RateLimiter:
    return RateLimiter(runtime().redis, name=name, limit=limit, window_seconds=3600, fail_closed=True)


def forgot_password() -> Response | str | tuple[str, int]:
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("portal/forgot_password.html", form=form, sent=False)
    email = form.email.data.strip().lower()
    try:
        per_ip = _reset_limiter("password-reset-ip", password_reset.REQUESTS_PER_IP_HOUR)
        if per_ip.hit(client_ip() or "") > per_ip.limit:
            form.email.errors.append("Too many requests from your network. Wait an hour and try again.")
            return render_template("portal/forgot_password.html", form=form, sent=False), 429
        # Over the per-address limit the answer is the same and nothing is sent: it tells no one whether
        # the address has an account.
        per_address = _reset_limiter("password-reset-email", password_reset.REQUESTS_PER_HOUR)
        within = per_address.hit(email) <= per_address.limit
    except LimiterUnavailable:
        form.email.errors.append("This is unavailable for a moment. Try again shortly.")
        return render_template("portal/forgot_password.html", form=form, sent=False), 503
    if within:
        password_reset.request(
            uow().session, context(request_actor(ActorType.SYSTEM, "password-reset")), email=email
        )
    return render_template("portal/forgot_password.html", form=ForgotPasswordForm(formdata=None), sent=True)


def reset_password(token: str) -> Response | str | tuple[str, int]:
    rt = runtime()
    try:
        reset = password_reset.check(
            uow().session, rt.acting(request_actor(ActorType.SYSTEM, "password-reset")), token=token
        )
    except password_reset.ResetLinkInvalid as exc:
        return render_template("portal/reset_password.html", form=None, invalid=exc.message), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset(
                uow().session, rt.acting(actor(reset.user_id)), token=token, new_password=form.password.data
            )
        except password_reset.ResetLinkInvalid as exc:
            return render_template("portal/reset_password.html", form=None, invalid=exc.message), 400
        except InvalidInput as exc:
            form.password.errors.append(exc.message)
        else:
            session.clear()
            flash(
                "Your password is changed, and every session is signed out. Sign in with the new one.", "info"
            )
            return redirect(url_for("portal.login"), code=303)
    response = _no_store(render_template("portal/reset_password.html", form=form, invalid=None))
    return response
