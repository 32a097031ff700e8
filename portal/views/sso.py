"""Single sign-on screens: choosing the merchant account, the round trip to its OpenID provider, and the
owner's settings page. The rules are tenants/sso.py's; the password and code steps stay in auth.py."""

from __future__ import annotations

import re
import time

import pyotp
import requests
from flask import Response, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.context import Actor, ActorType, Context
from core.errors import InvalidInput, NotFound
from core.web.request import actor as request_actor
from core.web.request import bind_tenant, context, runtime, uow
from portal.views import auth
from tenants import approvals, sso
from tenants import service as accounts
from tenants import sign_in as lockout
from tenants.lookup import tenant_by_id
from tenants.models import ApprovalRequest, SsoProvider

_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")
#: The browser's session cookie holds the state of the sign-in it started (checked on the way back).
STATE_KEY = "sso_state"


class ChooseAccountForm(FlaskForm):
    account = StringField(
        "Merchant account",
        validators=[
            DataRequired(message="Enter your merchant account's name in Kassa."),
            Length(max=63),
            Regexp(r"^\s*[A-Za-z0-9-]+\s*$", message="Letters, digits and hyphens, like acme-coffee."),
        ],
        description="The short name your owner gave you, like acme-coffee.",
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    submit = SubmitField("Continue")


class SsoSettingsForm(FlaskForm):
    issuer = StringField(
        "Issuer URL",
        validators=[DataRequired(message="Enter the provider's issuer URL."), Length(max=500)],
        description="Kassa reads <issuer>/.well-known/openid-configuration.",
        render_kw={"inputmode": "url", "spellcheck": "false", "placeholder": "https://login.example.com"},
    )
    client_id = StringField(
        "Client ID", validators=[DataRequired(message="Enter the client ID."), Length(max=255)]
    )
    client_secret = PasswordField(
        "Client secret",
        validators=[Length(max=2000)],
        description="Stored encrypted and never shown again. Leave empty to keep the stored one.",
        render_kw={"autocomplete": "off"},
    )
    clear_secret = BooleanField("No client secret (public client, PKCE only)")
    allowed_domains = TextAreaField(
        "Allowed email domains",
        validators=[Length(max=5000)],
        description="One per line. Only verified addresses at these domains can sign in.",
        render_kw={"rows": 3, "spellcheck": "false"},
    )
    display_name = StringField(
        "Button label",
        validators=[Length(max=100)],
        description='The sign-in button says "Sign in with" and this, e.g. Okta.',
    )
    enabled = BooleanField("Turn single sign-on on")
    required = BooleanField("Require single sign-on: members cannot sign in with a password")
    reason = StringField("Reason (for the approver)", validators=[Length(max=500)])
    submit = SubmitField("Save")


#: Who the audit trail names for a sign-in attempt whose person is not known (yet, or at all).
SSO_ACTOR = "sso"


def _anonymous() -> Actor:
    return request_actor(ActorType.SYSTEM, SSO_ACTOR)


def _http() -> requests.Session:
    return requests.Session()


def _allow_loopback_http() -> bool:
    # A provider on this machine over plain http, only where Kassa itself runs locally (development, tests).
    return sso.loopback_allowed(runtime().settings)


def _redirect_uri() -> str:
    """The callback registered at the provider: under KASSA_BASE_URL, never under whatever Host header a
    request brings (locally, where tests serve on free ports, the request's own address)."""
    settings = runtime().settings
    if settings.is_local:
        return url_for("portal.sso_callback", _external=True)
    return settings.base_url + url_for("portal.sso_callback")


def choose() -> Response | str | tuple[str, int]:
    """Which merchant account to sign in to through its provider.

    A valid answer shows the button to the provider rather than redirecting: browsers apply the page's
    CSP `form-action 'self'` to every redirect after a form submission, so a form cannot lead off-site.
    """
    form = ChooseAccountForm()
    if form.validate_on_submit():
        try:
            tenant, provider = sso.enabled_provider_for_slug(uow().session, form.account.data)
        except NotFound as exc:
            form.account.errors.append(exc.message)
            return render_template("portal/sso_choose.html", form=form), 404
        start_url = url_for("portal.sso_start", slug=tenant.slug, next=auth._next_of_request())
        return render_template(
            "portal/sso_choose.html", form=form, tenant=tenant, provider=provider, start_url=start_url
        )
    return render_template("portal/sso_choose.html", form=form)


def start(slug: str) -> Response | tuple[str, int]:
    """Send the browser to the tenant's provider (404 for a tenant without single sign-on)."""
    db = uow().session
    tenant, _provider = sso.enabled_provider_for_slug(db, slug)
    bind_tenant(tenant.id)
    try:
        url, state = sso.begin(
            db,
            context(_anonymous()),
            tenant_id=tenant.id,
            redirect_uri=_redirect_uri(),
            next_url=auth._next_of_request(),
            http=_http(),
            allow_loopback_http=_allow_loopback_http(),
        )
    except sso.SsoError as exc:
        return _refused(exc)
    session[STATE_KEY] = state
    return redirect(url)


def callback() -> Response | tuple[str, int]:
    """The provider sends the browser back here with a code (or an error) and the state."""
    expected = session.pop(STATE_KEY, None)
    rt = runtime()
    try:
        flow = sso.take_flow(rt.redis, state=request.args.get("state"), expected=expected)
    except sso.SsoError as exc:
        return _refused(exc)
    bind_tenant(flow.tenant_id)
    db = uow().session
    # Only an OAuth error code is shown back (`access_denied`), never free text a link could carry.
    error = request.args.get("error")
    if error is not None and not _ERROR_CODE.match(error):
        error = "unknown_error"
    code = request.args.get("code")
    try:
        if error or not code:
            raise sso.SsoError(
                "The provider did not sign you in"
                + (f" ({error})." if error else ".")
                + " Start again, or ask an owner of your merchant account.",
                reason=f"provider error: {error or 'no code'}",
                tenant_id=flow.tenant_id,
            )
        identity = sso.finish(
            db,
            rt.acting(_anonymous()),
            flow=flow,
            code=code,
            redirect_uri=_redirect_uri(),
            http=_http(),
            allow_loopback_http=_allow_loopback_http(),
        )
        user = sso.member_for(db, tenant_id=flow.tenant_id, identity=identity)
        lockout.check_not_locked(db, user_id=user.id, clock=rt.clock)
    except lockout.AccountLocked as exc:
        return _refused(sso.SsoError(exc.message, reason="locked", tenant_id=flow.tenant_id), status=403)
    except sso.SsoError as exc:
        return _refused(exc)
    session.clear()
    session["pending"] = {
        "user_id": user.id,
        "at": time.time(),
        "next": auth.safe_next(flow.next),
        "tenant_id": flow.tenant_id,
        "method": "sso",
    }
    if identity.mfa:
        # The provider used a second factor (its `amr` says so): that is the MFA Kassa requires.
        session["pending"]["mfa"] = "amr:" + ",".join(sorted(sso.MFA_METHODS.intersection(identity.amr)))
        return auth._complete_sign_in(user)
    if not accounts.has_totp(user):
        session["pending"]["enroll_secret"] = pyotp.random_base32(32)
        return redirect(url_for("portal.enroll"))
    return redirect(url_for("portal.login_code"))


def _refused(exc: sso.SsoError, *, status: int | None = None) -> tuple[str, int]:
    """The failure page, and the attempt in the tenant's audit chain (in its own transaction: the
    request's rolls back with the error answer)."""
    if exc.tenant_id is not None:
        rt = runtime()
        with rt.db.unit_of_work(tenant_id=exc.tenant_id) as own:
            audit.record(
                own.session,
                rt.acting(_anonymous()),
                actions.SSO_SIGN_IN_FAILED,
                subject=audit.Ref("tenant", exc.tenant_id, exc.tenant_id),
                outcome=Outcome.FAILURE,
                details={"reason": exc.reason},
            )
    return render_template("portal/sso_error.html", message=exc.message), status or exc.status


def _form_of(provider: SsoProvider | None) -> SsoSettingsForm:
    if request.method == "POST" or provider is None:
        return SsoSettingsForm()
    return SsoSettingsForm(
        issuer=provider.issuer,
        client_id=provider.client_id,
        allowed_domains="\n".join(provider.allowed_domains or []),
        display_name=provider.display_name,
        enabled=provider.enabled,
        required=provider.required,
    )


def settings_page() -> Response | str | tuple[str, int]:
    """The tenant's single sign-on settings (team:manage): shown, and changed with a POST; held for a second
    person's approval when the owner's policy says so (tenants/approvals.py `sso.configure`)."""
    db = uow().session
    tenant_id = current_user.tenant_id
    provider = sso.provider_of(db, tenant_id)
    form = _form_of(provider)
    status = 200
    if form.validate_on_submit():
        secret: str | None = form.client_secret.data or None
        if form.clear_secret.data:
            secret = ""
        settings = sso.SsoSettings(
            issuer=form.issuer.data,
            client_id=form.client_id.data,
            client_secret=secret,
            allowed_domains=tuple((form.allowed_domains.data or "").replace(",", "\n").splitlines()),
            display_name=form.display_name.data or "",
            enabled=bool(form.enabled.data),
            required=bool(form.required.data),
        )
        ctx = context(request_actor(ActorType.USER, current_user.id))
        try:
            if approvals.required(db, kind_name=approvals.SSO_CONFIGURATION, params={}):
                held = _request_change(ctx, settings, form.reason.data or "")
                flash(
                    "Changing single sign-on needs a second person's approval: "
                    f"request {held.id} is pending. Nothing has changed yet.",
                    "info",
                )
                return redirect(url_for("portal.approval", request_id=held.id), code=303)
            provider = sso.configure(
                db,
                ctx,
                tenant_id=tenant_id,
                settings=settings,
                acting_email=current_user.email,
                http=_http(),
                allow_loopback_http=_allow_loopback_http(),
            )
        except InvalidInput as exc:
            field = getattr(form, exc.param or "", None) or form.issuer
            field.errors = [*field.errors, exc.message]
            status = 400
        except sso.SsoError as exc:
            form.issuer.errors = [*form.issuer.errors, exc.message]
            status = 400
        else:
            flash("Single sign-on settings saved.", "info")
            return redirect(url_for("portal.sso_settings"))
    elif request.method == "POST":
        status = 400
    return (
        render_template(
            "portal/sso_settings.html",
            form=form,
            provider=provider,
            tenant=tenant_by_id(db, tenant_id),
            redirect_uri=_redirect_uri(),
            held=approvals.required(db, kind_name=approvals.SSO_CONFIGURATION, params={}),
        ),
        status,
    )


def _request_change(ctx: Context, settings: sso.SsoSettings, reason: str) -> ApprovalRequest:
    """Check the settings now (a request that cannot work is not stored), then hold them, the client secret
    sealed, for another member to approve."""
    db = uow().session
    checked = sso.check_settings(
        settings, acting_email=current_user.email, http=_http(), allow_loopback_http=_allow_loopback_http()
    )
    params = sso.change_params(
        db,
        ctx,
        tenant_id=current_user.tenant_id,
        checked=checked,
        client_secret=settings.client_secret,
        requested_by_email=current_user.email,
    )
    return approvals.submit(
        db,
        ctx,
        kind_name=approvals.SSO_CONFIGURATION,
        params=params,
        summary=sso.change_summary(checked),
        reason=reason,
        requester=approvals.Requester(ActorType.USER, current_user.id, current_user.permissions),
    )
