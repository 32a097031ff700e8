"""The signed-in user's own account: password, authenticator app, recovery codes, open sessions.

Every change here is tenants/account.py's; a change that ends the user's sessions (password,
authenticator) opens a fresh one for this browser, so only the browser that made it stays signed in.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, make_response, redirect, render_template, session, url_for
from flask_login import current_user

from core.errors import AuthenticationFailed, InvalidInput
from core.web.request import client_ip, runtime, uow
from portal.views.auth import user_context
from portal.views.forms import (
    ChangePasswordForm,
    CurrentPasswordForm,
    LogoutForm,
    ReenrollForm,
    RevokeSessionForm,
)
from portal.views.session import SESSION_KEY
from portal.views.settings_forms import TimeZoneForm
from tenants import account as accounts
from tenants import portal_sessions, recovery_codes
from tenants import sign_in as flow
from tenants.models import User

#: The key of a new TOTP seed on offer (the re-enroll page) in the signed session cookie.
REENROLL_KEY = "reenroll_secret"


def _page(status: int = 200, **forms: Any) -> tuple[str, int]:
    rt = runtime()
    db = uow().session
    sessions = portal_sessions.open_sessions(db, user_id=current_user.id, clock=rt.clock)
    this_session = portal_sessions.token_digest(session.get(SESSION_KEY, ""))
    context: dict[str, Any] = {
        "sessions": sessions,
        "this_session": this_session,
        "everywhere_form": LogoutForm(),
        "revoke_form": RevokeSessionForm(),
        "password_form": ChangePasswordForm(prefix="pw"),
        "codes_form": CurrentPasswordForm(prefix="rc"),
        "codes_left": recovery_codes.remaining(db, user_id=current_user.id),
        "zone_form": _zone_form(),
        "now": rt.clock.now(),
    }
    context.update(forms)
    return render_template("portal/account.html", **context), status


def _zone_form(form: TimeZoneForm | None = None) -> TimeZoneForm:
    if form is None:
        user = uow().session.get(User, current_user.id)
        form = TimeZoneForm(formdata=None, time_zone=(user.time_zone if user else None) or "UTC")
    form.time_zone.choices = [(z, z.replace("_", " ")) for z in accounts.time_zones()]
    return form


def change_time_zone() -> Response | tuple[str, int]:
    """The zone the portal shows this person's dates in (every date filter reads it: g.time_zone)."""
    form = _zone_form(TimeZoneForm())
    if form.validate_on_submit():
        try:
            zone = accounts.set_time_zone(
                uow().session,
                user_context(current_user.id),
                user_id=current_user.id,
                time_zone=form.time_zone.data,
            )
        except InvalidInput as exc:
            form.time_zone.errors.append(exc.message)
        else:
            flash(f"Dates are now shown in {zone.replace('_', ' ')} time.", "success")
            return redirect(url_for("portal.account") + "#time-zone", code=303)
    elif "csrf_token" in form.errors:
        flash("Your form expired. Try again.", "error")
    return _page(400, zone_form=form)


def account() -> tuple[str, int]:
    return _page()


def _fresh_session() -> None:
    """Every session of the user ended: open a new one for this browser (a new token, as at sign-in)."""
    from flask import request

    token = portal_sessions.start(
        uow().session,
        user_id=current_user.id,
        tenant_id=current_user.tenant_id,
        ip=client_ip(),
        user_agent=request.user_agent.string,
        clock=runtime().clock,
    )
    session[SESSION_KEY] = token


def _refused(
    exc: flow.AccountLocked | accounts.WrongPassword, form: Any, **forms: Any
) -> Response | tuple[str, int]:
    """The current password did not pass. Wrong: the form says so (a 400), and the failure counts towards
    the lockout. This wrong password locked the account and ended its sessions (this one too): to the
    sign-in page. Locked before (by failed sign-ins elsewhere): the form says so, nothing checked."""
    if isinstance(exc, accounts.WrongPassword):
        _wrong_password(form, exc)
        return _page(400, **forms)
    g.commit_on_error = True
    if isinstance(exc, accounts.LockedNow):
        session.clear()
        flash(exc.message, "error")
        return redirect(url_for("portal.login"), code=303)
    form.current.errors.append(exc.message)
    return _page(exc.status, **forms)


def _wrong_password(form: Any, exc: accounts.WrongPassword) -> None:
    g.commit_on_error = True  # the failure counts towards the lockout: keep it with the 400 answer
    form.current.errors.append(exc.message)


def change_password() -> Response | tuple[str, int]:
    form = ChangePasswordForm(prefix="pw")
    if not form.validate_on_submit():
        return _page(400 if form.errors else 200, password_form=form)
    try:
        ended = accounts.change_password(
            uow().session,
            user_context(current_user.id),
            user_id=current_user.id,
            current=form.current.data,
            new=form.password.data,
        )
    except (flow.AccountLocked, accounts.WrongPassword) as exc:
        return _refused(exc, form, password_form=form)
    except InvalidInput as exc:
        form.password.errors.append(exc.message)
        return _page(400, password_form=form)
    _fresh_session()
    others = max(ended - 1, 0)
    flash(
        f"Your password is changed. {others} other session{'s' if others != 1 else ''} signed out.", "success"
    )
    return redirect(url_for("portal.account"), code=303)


def _codes_page(codes: list[str], *, heading: str) -> Response:
    response = make_response(
        render_template(
            "portal/recovery_codes.html", codes=codes, continue_url=url_for("portal.account"), heading=heading
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def regenerate_codes() -> Response | tuple[str, int]:
    form = CurrentPasswordForm(prefix="rc")
    if not form.validate_on_submit():
        return _page(400 if form.errors else 200, codes_form=form)
    try:
        codes = accounts.regenerate_recovery_codes(
            uow().session,
            user_context(current_user.id),
            user_id=current_user.id,
            current=form.current.data,
        )
    except (flow.AccountLocked, accounts.WrongPassword) as exc:
        return _refused(exc, form, codes_form=form)
    return _codes_page(codes, heading="Your new recovery codes")


def reenroll() -> Response | tuple[str, int]:
    """Switch to a new authenticator app: a new key on offer (kept in the signed cookie while the page is
    open), confirmed by the current password and a code for it."""
    secret = session.get(REENROLL_KEY)
    if not isinstance(secret, str):
        secret = session[REENROLL_KEY] = flow.new_totp_secret()
    form = ReenrollForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = accounts.reenroll_totp(
                uow().session,
                user_context(current_user.id),
                user_id=current_user.id,
                current=form.current.data,
                secret=secret,
                code=form.code.data,
            )
        except accounts.LockedNow as exc:
            g.commit_on_error = True
            session.clear()
            flash(exc.message, "error")
            return redirect(url_for("portal.login"), code=303)
        except flow.AccountLocked as exc:
            g.commit_on_error = True
            form.current.errors.append(exc.message)
            status = exc.status
        except accounts.WrongPassword as exc:
            _wrong_password(form, exc)
            status = 400
        except AuthenticationFailed as exc:
            form.current.errors.append(exc.message)
            status = 400
        except InvalidInput as exc:
            form.code.errors.append(exc.message)
            status = 400
        else:
            session.pop(REENROLL_KEY, None)
            _fresh_session()
            flash("Your new authenticator app is set up. Every other session is signed out.", "success")
            return _codes_page(codes, heading="Your new recovery codes")
    elif form.errors:
        status = 400
    enrollment = flow.enrollment_for(current_user.email, secret)
    response = make_response(
        render_template("portal/reenroll.html", form=form, enrollment=enrollment), status
    )
    response.headers["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]


def revoke_session(session_id: str) -> Response:
    form = RevokeSessionForm()
    if not form.validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return redirect(url_for("portal.account"), code=303)
    ended = accounts.revoke_session(
        uow().session,
        user_context(current_user.id),
        user_id=current_user.id,
        session_id=session_id,
    )
    if not ended:
        flash("That session had already ended.", "info")
    elif session_id == portal_sessions.token_digest(session.get(SESSION_KEY, "")):
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("portal.login"), code=303)
    else:
        flash("The session is signed out.", "success")
    return redirect(url_for("portal.account"), code=303)
