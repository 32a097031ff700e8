"""Single sign-on per tenant through OpenID Connect (authlib's client, joserfc's JWT checks).

An owner (`team:manage`: SSO decides who can sign in, so it is a team setting, not a checkout one)
configures one provider per tenant: issuer (read through discovery), client id and secret, the email
domains it may vouch for, whether it is on, and whether it is *required* (then the tenant's members cannot
sign in with a password at all).

Sign-in is the authorization code flow with PKCE (S256), a `state` bound to the browser's session cookie
and kept server-side for ten minutes (single use), and a `nonce` checked in the ID token. The ID token is
accepted only when its signature verifies against the provider's JWKS, its issuer is exactly the configured
one, its audience holds the client id (and `azp` names it when several audiences are listed), it has not
expired (one minute of clock skew) and its nonce is this flow's. The person is then matched by their
*verified* email against this tenant's members: no account is created just in time; a person who is not a
member (or invited and accepted) is refused. The provider's `amr` claim satisfies Kassa's MFA requirement
when it names a second factor (`MFA_METHODS`); otherwise Kassa's own authentication code (TOTP) follows.

Nothing here reads Flask: the views (portal/views/sso.py) pass the HTTP session, clock, KMS and Redis.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.context import Acting, Context
from core.errors import InvalidInput, KassaError, NotFound
from core.ids import new_id
from core.jobs import runtime
from core.keys import service as data_keys
from core.keys.models import KeyPurpose
from core.kms import KMS, DecryptionFailed
from core.redis import RedisClient
from tenants.lookup import tenant_by_id
from tenants.models import Membership, SsoProvider, Tenant, User
from tenants.resolution import memberships_of

#: `amr` values (RFC 8176) that mean a second factor was used: multiple factors or channels, a one-time
#: code, a hardware or software key, a smart card. SMS and phone calls are not enough (NIST 800-63B).
MFA_METHODS: Final = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sc"})
#: How long a started sign-in may take at the provider before its state is forgotten.
FLOW_SECONDS: Final = 600
#: Seconds of clock difference with the provider tolerated on `exp` and `iat`.
LEEWAY_SECONDS: Final = 60
HTTP_TIMEOUT: Final = 5.0
#: Discovery and JWKS documents larger than this are refused (a provider's are a few KiB).
MAX_DOCUMENT_BYTES: Final = 256 * 1024
#: ID token signature algorithms accepted, whatever the provider offers ("none" and HMAC never).
ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_FLOW_KEY = "sso:flow:"


class SsoError(KassaError):
    """A single sign-on attempt that cannot go on; `reason` is the short cause the audit trail records."""

    status = 400
    type = "authentication_error"
    code = "sso_failed"

    def __init__(self, message: str, *, reason: str, tenant_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.tenant_id = tenant_id


class ProviderUnreachable(SsoError):
    status = 502
    code = "sso_provider_unreachable"


@dataclass(frozen=True)
class Metadata:
    """What discovery says about a provider (only what Kassa uses)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Flow:
    """A started sign-in, kept in Redis under the hash of its state until the provider sends the browser
    back (or ten minutes pass)."""

    tenant_id: str
    nonce: str
    code_verifier: str
    next: str | None = None


@dataclass(frozen=True)
class Identity:
    """Who the provider vouched for, after every check."""

    subject: str
    email: str
    amr: tuple[str, ...]

    @property
    def mfa(self) -> bool:
        """The provider used a second factor: Kassa asks for no authentication code."""
        return bool(MFA_METHODS.intersection(self.amr))


@dataclass(frozen=True)
class SsoSettings:
    """What an owner sets. `client_secret` None keeps the stored secret; "" clears it (a public client)."""

    issuer: str
    client_id: str
    allowed_domains: tuple[str, ...]
    display_name: str
    enabled: bool
    required: bool
    client_secret: str | None = None


# ---------------------------------------------------------------------------------------------- reading


def provider_of(session: Session, tenant_id: str) -> SsoProvider | None:
    """The tenant's provider (enabled or not), or None. `session` must be bound to the tenant."""
    return session.scalar(select(SsoProvider).where(SsoProvider.tenant_id == tenant_id))


def enabled_provider_for_slug(session: Session, slug: str) -> tuple[Tenant, SsoProvider]:
    """The tenant of `slug` and its enabled provider, binding the session to that tenant; NotFound for an
    unknown slug and for a tenant without SSO alike (which tenants use SSO is not told)."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug.strip().lower()))
    if tenant is not None:
        _bind(session, tenant.id)
        provider = provider_of(session, tenant.id)
        if provider is not None and provider.enabled:
            return tenant, provider
    raise NotFound("No merchant account signs in with single sign-on under that name.", param="account")


def sso_required_tenant(session: Session, *, user_id: str) -> tuple[Tenant, SsoProvider] | None:
    """The first of the user's tenants that requires SSO, and its provider; None if none does.

    Any one is enough to refuse a password: a password session could otherwise be switched to that tenant.
    The session's tenant binding is restored afterwards.
    """
    previous = session.info.get("tenant_id")
    try:
        for tenant_id, _role in memberships_of(session, user_id):
            _bind(session, tenant_id)
            provider = provider_of(session, tenant_id)
            if provider is not None and provider.enabled and provider.required:
                return tenant_by_id(session, tenant_id), provider
        return None
    finally:
        _bind(session, previous)


def _bind(session: Session, tenant_id: str | None) -> None:
    bind = getattr(session, "bind_tenant", None)
    if bind is not None:
        bind(tenant_id)


# -------------------------------------------------------------------------------------------- configuring


def _secret_aad(tenant_id: str, provider_id: str) -> bytes:
    return f"sso.client_secret:{tenant_id}:{provider_id}".encode()


def client_secret_of(session: Session, provider: SsoProvider, *, kms: KMS) -> str | None:
    if provider.client_secret_encrypted is None:
        return None
    try:
        plain = data_keys.unseal(
            session,
            tenant_id=provider.tenant_id,
            purpose=KeyPurpose.SECRETS,
            blob=provider.client_secret_encrypted,
            kms=kms,
            aad=_secret_aad(provider.tenant_id, provider.id),
        )
    except DecryptionFailed:
        raise SsoError(
            "The stored client secret cannot be opened. Enter it again in the single sign-on settings.",
            reason="secret_unreadable",
            tenant_id=provider.tenant_id,
        ) from None
    return plain.decode()


def normalize_issuer(value: str, *, allow_loopback_http: bool) -> str:
    """The issuer as given (it must match the provider's own spelling exactly), if it is an https URL
    without query or fragment; plain http only for a loopback host where Kassa itself runs locally."""
    issuer = value.strip()
    parts = urlsplit(issuer)
    if not issuer or len(issuer) > 500 or parts.query or parts.fragment or not parts.hostname:
        raise InvalidInput("Enter the issuer URL, like https://login.example.com.", param="issuer")
    if "@" in parts.netloc:
        raise InvalidInput("The issuer URL cannot hold a user name or password.", param="issuer")
    loopback = _is_loopback(parts.hostname)
    if parts.scheme == "http" and loopback and allow_loopback_http:
        return issuer
    if parts.scheme != "https":
        raise InvalidInput("The issuer must be an https:// URL.", param="issuer")
    # Kassa fetches from the issuer: never let an owner point it at the network Kassa itself runs in.
    if _is_internal_address(parts.hostname) and not (loopback and allow_loopback_http):
        raise InvalidInput("The issuer must be a public host, not an internal address.", param="issuer")
    return issuer


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_internal_address(host: str) -> bool:
    # Only literal addresses: a name is resolved by the provider's DNS, which the operator controls.
    if _is_loopback(host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_link_local or address.is_reserved or address.is_multicast


def normalize_domains(values: Iterable[str]) -> tuple[str, ...]:
    domains = sorted({v.strip().lower().lstrip("@") for v in values if v.strip()})
    for domain in domains:
        if not _DOMAIN.match(domain):
            raise InvalidInput(
                f"{domain!r} is not an email domain; write one per line, like example.com.",
                param="allowed_domains",
            )
    if len(domains) > 50:
        raise InvalidInput("At most 50 email domains.", param="allowed_domains")
    return tuple(domains)


@dataclass(frozen=True)
class CheckedSettings:
    """Settings that passed every check of `check_settings` (normalized)."""

    issuer: str
    client_id: str
    allowed_domains: tuple[str, ...]
    display_name: str
    enabled: bool
    required: bool


def check_settings(
    settings: SsoSettings,
    *,
    acting_email: str | None,
    http: requests.Session,
    allow_loopback_http: bool = False,
) -> CheckedSettings:
    """Every rule of a provider's settings, and the issuer's discovery document when it is turned on
    (`InvalidInput` naming the field, or an `SsoError`)."""
    issuer = normalize_issuer(settings.issuer, allow_loopback_http=allow_loopback_http)
    client_id = settings.client_id.strip()
    if not client_id or len(client_id) > 255:
        raise InvalidInput("Enter the client ID the provider gave Kassa.", param="client_id")
    display_name = settings.display_name.strip() or urlsplit(issuer).hostname or "your provider"
    if len(display_name) > 100:
        raise InvalidInput("The button label is at most 100 characters.", param="display_name")
    domains = normalize_domains(settings.allowed_domains)
    if settings.enabled and not domains:
        raise InvalidInput(
            "Name at least one email domain whose people may sign in through this provider.",
            param="allowed_domains",
        )
    if settings.client_secret is not None and len(settings.client_secret) > 2000:
        raise InvalidInput("The client secret is at most 2000 characters.", param="client_secret")
    if settings.required and not settings.enabled:
        raise InvalidInput("Turn single sign-on on before requiring it.", param="required")
    if settings.required and acting_email is not None and _domain_of(acting_email) not in domains:
        # Requiring SSO would shut the person who requires it out (their password stops working).
        raise InvalidInput(
            f"Your own email's domain ({_domain_of(acting_email)}) is not among the allowed domains: "
            "requiring single sign-on now would lock you out.",
            param="required",
        )
    if settings.enabled:
        fetch_metadata(issuer, http=http, allow_loopback_http=allow_loopback_http)
    return CheckedSettings(
        issuer=issuer,
        client_id=client_id,
        allowed_domains=domains,
        display_name=display_name,
        enabled=settings.enabled,
        required=settings.required,
    )


def configure(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    settings: SsoSettings,
    acting_email: str | None,
    http: requests.Session,
    allow_loopback_http: bool = False,
) -> SsoProvider:
    """Create or change the tenant's provider, after checking the issuer's discovery document; audited
    (`sso.provider.updated`, naming the fields that changed; never the secret)."""
    checked = check_settings(
        settings, acting_email=acting_email, http=http, allow_loopback_http=allow_loopback_http
    )
    provider = provider_of(session, tenant_id)
    created = provider is None
    now = ctx.clock.now()
    if provider is None:
        provider = SsoProvider(tenant_id=tenant_id, id=new_id("sso"), created_at=now)
        session.add(provider)
    before = _public_fields(provider) if not created else {}
    provider.issuer = checked.issuer
    provider.client_id = checked.client_id
    provider.allowed_domains = list(checked.allowed_domains)
    provider.display_name = checked.display_name
    provider.enabled = checked.enabled
    provider.required = checked.required
    provider.updated_at = now
    secret_changed = False
    if settings.client_secret is not None:
        secret_changed = True
        provider.client_secret_encrypted = (
            data_keys.seal(
                session,
                tenant_id=tenant_id,
                purpose=KeyPurpose.SECRETS,
                plaintext=settings.client_secret.encode(),
                kms=ctx.kms,
                aad=_secret_aad(tenant_id, provider.id),
                clock=ctx.clock,
            )
            if settings.client_secret
            else None
        )
    after = _public_fields(provider)
    changed = sorted(k for k in after if before.get(k) != after[k])
    if secret_changed:
        changed.append("client_secret")
    session.flush()
    audit.record(
        session,
        ctx,
        actions.SSO_PROVIDER_UPDATED,
        subject=provider,
        details={"created": created, "changed": changed, **after},
    )
    return provider


# ------------------------------------------------------------------------- four-eyes (tenants/approvals.py)

#: What a held change does with the client secret (`params["client_secret"]`).
SECRET_KEEP: Final = "keep the stored one"  # noqa: S105  (what to do, not a secret)
SECRET_CLEAR: Final = "remove it (public client)"  # noqa: S105
SECRET_SET: Final = "replace it with the one entered (sealed)"  # noqa: S105


def loopback_allowed(settings: Any) -> bool:
    """A provider on this machine over plain http, only where Kassa itself runs locally (development,
    tests): `core.config.Settings`."""
    return bool(settings.is_local and not settings.is_production)


def _pending_secret_aad(tenant_id: str, nonce: str) -> bytes:
    return f"sso.pending_client_secret:{tenant_id}:{nonce}".encode()


def change_params(
    session: Session,
    ctx: Acting,
    *,
    tenant_id: str,
    checked: CheckedSettings,
    client_secret: str | None,
    requested_by_email: str | None,
) -> dict[str, Any]:
    """The JSON an approval request holds for this change: the checked settings, and a new client secret
    only sealed under the tenant's data key (`sealed_client_secret`, never shown nor audited)."""
    params: dict[str, Any] = {
        "issuer": checked.issuer,
        "client_id": checked.client_id,
        "allowed_domains": list(checked.allowed_domains),
        "display_name": checked.display_name,
        "enabled": checked.enabled,
        "required": checked.required,
        "client_secret": SECRET_KEEP
        if client_secret is None
        else SECRET_SET
        if client_secret
        else SECRET_CLEAR,
        "requested_by_email": requested_by_email,
    }
    if client_secret:
        nonce = secrets.token_urlsafe(16)
        blob = data_keys.seal(
            session,
            tenant_id=tenant_id,
            purpose=KeyPurpose.SECRETS,
            plaintext=client_secret.encode(),
            kms=ctx.kms,
            aad=_pending_secret_aad(tenant_id, nonce),
            clock=ctx.clock,
        )
        params["sealed_client_secret"] = f"{nonce}:{base64.b64encode(blob).decode()}"
    return params


def change_summary(checked: CheckedSettings) -> str:
    state = ("on, required" if checked.required else "on") if checked.enabled else "off"
    domains = ", ".join(checked.allowed_domains) or "no domains"
    return f"Single sign-on {state}: {checked.issuer} ({domains})"


def apply_approved(session: Session, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The executor of an approved `sso.configure` request: exactly the requested settings, checked again
    (the issuer must still answer discovery; requiring SSO must still not lock the requester out)."""
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, str):
        raise RuntimeError("no tenant in context")
    choice = params.get("client_secret")
    secret: str | None = None
    if choice == SECRET_CLEAR:
        secret = ""
    elif choice == SECRET_SET:
        nonce, _, blob = str(params.get("sealed_client_secret") or "").partition(":")
        try:
            secret = data_keys.unseal(
                session,
                tenant_id=tenant_id,
                purpose=KeyPurpose.SECRETS,
                blob=base64.b64decode(blob),
                kms=ctx.kms,
                aad=_pending_secret_aad(tenant_id, nonce),
            ).decode()
        except (DecryptionFailed, ValueError):
            raise InvalidInput(
                "The client secret held with this request cannot be opened: ask again.", param="client_secret"
            ) from None
    try:
        provider = _configure_requested(session, ctx, tenant_id, params, secret)
    except SsoError as exc:  # the provider's discovery failed now: the request fails with the reason
        raise InvalidInput(exc.message, param="issuer") from None
    return {"provider": provider.id, "enabled": provider.enabled, "required": provider.required}


def _configure_requested(
    session: Session, ctx: Context, tenant_id: str, params: dict[str, Any], secret: str | None
) -> SsoProvider:
    return configure(
        session,
        ctx,
        tenant_id=tenant_id,
        settings=SsoSettings(
            issuer=str(params["issuer"]),
            client_id=str(params["client_id"]),
            allowed_domains=tuple(str(d) for d in params.get("allowed_domains") or ()),
            display_name=str(params.get("display_name") or ""),
            enabled=bool(params.get("enabled")),
            required=bool(params.get("required")),
            client_secret=secret,
        ),
        acting_email=params.get("requested_by_email"),
        http=requests.Session(),
        allow_loopback_http=loopback_allowed(runtime.current().settings),
    )


def _public_fields(provider: SsoProvider) -> dict[str, Any]:
    """What the audit trail may say about a provider (the secret only as set or not)."""
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "allowed_domains": list(provider.allowed_domains or []),
        "display_name": provider.display_name,
        "enabled": bool(provider.enabled),
        "required": bool(provider.required),
        "client_secret_set": provider.client_secret_encrypted is not None,
    }


def _domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower()


# ------------------------------------------------------------------------------------------ the provider


def _get_json(http: requests.Session, url: str, *, what: str, tenant_id: str | None) -> dict[str, Any]:
    try:
        with http.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False, stream=True) as response:
            status = response.status_code
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ProviderUnreachable(
            f"The provider's {what} could not be read ({type(exc).__name__}). Check the issuer URL.",
            reason=f"{what} unreachable",
            tenant_id=tenant_id,
        ) from None
    if status != 200 or len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderUnreachable(
            f"The provider's {what} answered {status} at {url}. Check the issuer URL.",
            reason=f"{what} status {status}",
            tenant_id=tenant_id,
        )
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProviderUnreachable(
            f"The provider's {what} at {url} is not a JSON object.",
            reason=f"{what} invalid",
            tenant_id=tenant_id,
        )
    return document


def fetch_metadata(
    issuer: str, *, http: requests.Session, allow_loopback_http: bool, tenant_id: str | None = None
) -> Metadata:
    """The provider's discovery document, checked: it names exactly this issuer, and its endpoints are
    https (or loopback http where allowed)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json(http, url, what="discovery document", tenant_id=tenant_id)
    if (named := document.get("issuer")) != issuer:
        raise InvalidInput(
            f"The provider calls itself {named!r}, not {issuer!r}: enter the issuer exactly as it says.",
            param="issuer",
        )
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise InvalidInput(f"The provider's discovery document has no {name}.", param="issuer")
        parts = urlsplit(value)
        if not (
            parts.scheme == "https"
            or (parts.scheme == "http" and allow_loopback_http and _is_loopback(parts.hostname or ""))
        ):
            raise InvalidInput(f"The provider's {name} is not an https URL.", param="issuer")
        endpoints[name] = value
    return Metadata(issuer=issuer, **endpoints)


# ------------------------------------------------------------------------------------------ the sign-in


def begin(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    redirect_uri: str,
    next_url: str | None,
    http: requests.Session,
    allow_loopback_http: bool = False,
) -> tuple[str, str]:
    """Start a sign-in at the tenant's provider: (the URL to send the browser to, the state to keep in
    its session cookie). The flow (nonce, PKCE verifier) waits in Redis under the state's hash."""
    provider = provider_of(session, tenant_id)
    if provider is None or not provider.enabled:
        raise NotFound("This merchant account does not sign in with single sign-on.")
    metadata = fetch_metadata(
        provider.issuer, http=http, allow_loopback_http=allow_loopback_http, tenant_id=tenant_id
    )
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    flow = Flow(tenant_id=tenant_id, nonce=nonce, code_verifier=secrets.token_urlsafe(64), next=next_url)
    client = OAuth2Session(
        provider.client_id, redirect_uri=redirect_uri, scope="openid email", code_challenge_method="S256"
    )
    url, _ = client.create_authorization_url(
        metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=flow.code_verifier
    )
    ctx.redis.set(_flow_key(state), json.dumps(asdict(flow)), ex=FLOW_SECONDS)
    return url, state


def _flow_key(state: str) -> str:
    return _FLOW_KEY + hashlib.sha256(state.encode()).hexdigest()


def take_flow(redis: RedisClient, *, state: str | None, expected: str | None) -> Flow:
    """The flow of the state the provider sent back, once: it must be the state this browser started
    (its session cookie's), and not used or expired. On a mismatch the browser's own flow ends too (its
    tenant is named, so the attempt is audited there)."""
    if not state or not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        started = redis.getdel(_flow_key(expected)) if expected else None
        raise SsoError(
            "This sign-in did not start in this browser, or was changed on the way. Start again.",
            reason="state mismatch",
            tenant_id=json.loads(started)["tenant_id"] if started else None,
        )
    raw = redis.getdel(_flow_key(state))
    if raw is None:
        raise SsoError("This sign-in expired or was already used. Start again.", reason="state unknown")
    return Flow(**json.loads(raw))


def finish(
    session: Session,
    ctx: Acting,
    *,
    flow: Flow,
    code: str,
    redirect_uri: str,
    http: requests.Session,
    allow_loopback_http: bool = False,
) -> Identity:
    """Exchange the code (with the PKCE verifier) and validate the ID token; the verified identity."""
    tenant_id = flow.tenant_id
    provider = provider_of(session, tenant_id)
    if provider is None or not provider.enabled:
        raise SsoError(
            "Single sign-on was turned off for this merchant account.", reason="disabled", tenant_id=tenant_id
        )
    metadata = fetch_metadata(
        provider.issuer, http=http, allow_loopback_http=allow_loopback_http, tenant_id=tenant_id
    )
    secret = client_secret_of(session, provider, kms=ctx.kms)
    client = OAuth2Session(
        provider.client_id,
        secret,
        redirect_uri=redirect_uri,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        code_challenge_method="S256",
    )
    try:
        token = client.fetch_token(
            metadata.token_endpoint, code=code, code_verifier=flow.code_verifier, timeout=HTTP_TIMEOUT
        )
    except requests.RequestException as exc:
        raise ProviderUnreachable(
            f"The provider's token endpoint could not be reached ({type(exc).__name__}).",
            reason="token endpoint unreachable",
            tenant_id=tenant_id,
        ) from None
    except Exception as exc:  # authlib's OAuthError and friends: the provider refused the code
        raise SsoError(
            "The provider refused to complete this sign-in. Start again.",
            reason=f"token refused: {getattr(exc, 'error', type(exc).__name__)}",
            tenant_id=tenant_id,
        ) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoError("The provider sent no ID token.", reason="no id_token", tenant_id=tenant_id)
    jwks = _get_json(http, metadata.jwks_uri, what="key set (JWKS)", tenant_id=tenant_id)
    claims = validate_id_token(
        id_token,
        jwks=jwks,
        issuer=provider.issuer,
        client_id=provider.client_id,
        nonce=flow.nonce,
        access_token=token.get("access_token"),
        now=int(ctx.clock.now().timestamp()),
        tenant_id=tenant_id,
    )
    return _identity(claims, provider)


def validate_id_token(
    id_token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: object,
    now: int,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """The ID token's claims if its signature (JWKS), issuer, audience, expiry, nonce and `at_hash` hold;
    SsoError naming the first that does not."""
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=list(ALGORITHMS)))
    except (JoseError, ValueError, TypeError) as exc:
        raise SsoError(
            "The provider's ID token did not verify against its published keys.",
            reason=f"id_token signature: {type(exc).__name__}",
            tenant_id=tenant_id,
        ) from None
    params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
    if isinstance(access_token, str):
        params["access_token"] = access_token
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
        params,
    )
    try:
        claims.validate(now=now, leeway=LEEWAY_SECONDS)
    except JoseError as exc:
        claim = getattr(exc, "claim", None) or type(exc).__name__
        raise SsoError(
            f"The provider's ID token was refused ({_CLAIM_PROBLEMS.get(str(claim), str(claim))}). "
            "Start again, or ask an owner to check the single sign-on settings.",
            reason=f"id_token {claim}: {exc.error}",
            tenant_id=tenant_id,
        ) from None
    return dict(claims)


_CLAIM_PROBLEMS: Final = {
    "iss": "it comes from another issuer",
    "aud": "it was issued to another application",
    "exp": "it has expired",
    "iat": "it was issued in the future",
    "nonce": "it belongs to another sign-in",
    "nbf": "it is not valid yet",
    "at_hash": "it does not match its access token",
    "azp": "it was issued to another application",
}


def _identity(claims: dict[str, Any], provider: SsoProvider) -> Identity:
    tenant_id = provider.tenant_id
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SsoError(
            "The provider did not share an email address. Ask an owner to allow the email scope.",
            reason="no email",
            tenant_id=tenant_id,
        )
    # Only True itself: a missing claim or the string "false" is not a verified address.
    if claims.get("email_verified") is not True:
        raise SsoError(
            "The provider has not verified this email address, so Kassa cannot match it to a member.",
            reason="email unverified",
            tenant_id=tenant_id,
        )
    email = email.strip().lower()
    if _domain_of(email) not in set(provider.allowed_domains or []):
        raise SsoError(
            f"Email addresses at {_domain_of(email)} may not sign in through this provider.",
            reason="domain not allowed",
            tenant_id=tenant_id,
        )
    amr = claims.get("amr")
    methods = tuple(str(m) for m in amr) if isinstance(amr, list) else ()
    return Identity(subject=str(claims.get("sub")), email=email, amr=methods)


def member_for(session: Session, *, tenant_id: str, identity: Identity) -> User:
    """The tenant's member with the identity's email. No account is made just in time: the person must
    already be a member (invited and accepted)."""
    user = session.scalar(select(User).where(User.email == identity.email))
    member = (
        user is not None
        and session.scalar(
            select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
        )
        is not None
    )
    if user is None or not member:
        raise SsoError(
            f"{identity.email} is not a member of this merchant account. Ask an owner to invite you.",
            reason="not a member",
            tenant_id=tenant_id,
        )
    if user.disabled:
        raise SsoError(
            "This account is disabled. Ask an owner of your merchant account.",
            reason="disabled user",
            tenant_id=tenant_id,
        )
    return user
