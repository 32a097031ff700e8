"""Single sign-on against a real OpenID provider (tests/oidc_provider.py), on PostgreSQL and Redis: the
round trip, each check of the ID token, matching by verified email, SSO-required tenants, the settings page.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent, Outcome
from core.context import Actor
from core.jobs.runtime import Runtime
from tenants import sso
from tenants.models import Role, SsoProvider, User
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories, inspector
from tests.oidc_provider import Provider
from tests.portal.test_sign_in import csrf_token, post_form
from tests.test_route_permissions import add_member, sign_in_as

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CLIENT_ID = "kassa-portal"
CLIENT_SECRET = "provider-issued-client-secret-0123456789"


def domain_of(tenant: MadeTenant) -> str:
    return tenant.owner_email.split("@")[1]


def configure(
    rt: Runtime,
    tenant: MadeTenant,
    provider: Provider,
    *,
    required: bool = False,
    domains: tuple[str, ...] | None = None,
    client_id: str = CLIENT_ID,
) -> None:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        sso.configure(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            settings=sso.SsoSettings(
                issuer=provider.issuer,
                client_id=client_id,
                client_secret=CLIENT_SECRET,
                allowed_domains=domains or (domain_of(tenant),),
                display_name="Test IdP",
                enabled=True,
                required=required,
            ),
            acting_email=None,
            http=requests.Session(),
            allow_loopback_http=True,
        )


def start(client: FlaskClient, tenant: MadeTenant) -> str:
    response = client.get(f"/portal/sso/start/{tenant.tenant.slug}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location


def round_trip(client: FlaskClient, provider: Provider, tenant: MadeTenant, sub: str):  # type: ignore[no-untyped-def]
    return client.get(provider.authorize(start(client, tenant), sub))


def audit_trail(rt: Runtime, tenant: MadeTenant) -> list[tuple[str, Outcome, dict[str, object] | None]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        events = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [(e.action, e.outcome, audit.read_details(uow.session, e, kms=rt.kms)) for e in events]


def signed_in(client: FlaskClient) -> bool:
    return client.get("/portal/").status_code == 200


# --- the round trip -------------------------------------------------------------------------------------


def test_the_start_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    url = start(client, tenant)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{oidc_provider.issuer}/oauth2/authorize?")
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    assert "openid" in query["scope"][0].split() and "email" in query["scope"][0].split()
    assert query["redirect_uri"] == ["http://localhost/portal/sso/callback"]


def test_a_member_whose_provider_reports_mfa_is_signed_in_without_a_kassa_code(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["pwd", "mfa"])
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 302 and response.location.endswith("/portal/")
    assert "Acme Coffee" in client.get("/portal/").get_data(as_text=True)
    action, outcome, details = audit_trail(clean, tenant)[-1]
    assert (action, outcome) == (actions.PORTAL_SIGN_IN, Outcome.SUCCESS)
    assert details == {"method": "sso", "second_factor": "amr:mfa"}


def test_without_a_second_factor_at_the_provider_kassa_asks_for_its_authentication_code(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["pwd", "sms"])
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    assert not signed_in(client)
    response = post_form(client, "/portal/login/code", {"code": tenant.code()})
    assert response.status_code == 302 and response.location.endswith("/portal/")
    assert signed_in(client)
    assert audit_trail(clean, tenant)[-1][2] == {"method": "sso", "second_factor": "totp"}


def test_a_member_without_totp_enrolls_after_the_provider_when_it_reports_no_second_factor(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        from tenants.service import create_user

        create_user(
            uow.session,
            clean.acting(Actor.system("test")),
            tenant_id=tenant.id,
            email=f"new@{domain_of(tenant)}",
            role=Role.VIEWER,
            password=PASSWORD,
            totp_secret=None,
        )
    sub = oidc_provider.new_user(f"new@{domain_of(tenant)}")
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 302 and response.location.endswith("/portal/login/enroll")


# --- what is refused ------------------------------------------------------------------------------------


def test_a_tampered_state_is_refused_and_audited(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"])
    back = urlsplit(oidc_provider.authorize(start(client, tenant), sub))
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    query["state"] = query["state"][:-4] + "AAAA"
    response = client.get(f"{back.path}?{urlencode(query)}")
    assert response.status_code == 400
    assert "changed on the way" in response.get_data(as_text=True)
    assert not signed_in(client)
    action, outcome, details = audit_trail(clean, tenant)[-1]
    assert (action, outcome, details) == (
        actions.SSO_SIGN_IN_FAILED,
        Outcome.FAILURE,
        {"reason": "state mismatch"},
    )
    # The browser's flow ended with the mismatch: the genuine state does not work afterwards either.
    query["state"] = parse_qs(back.query)["state"][0]
    assert client.get(f"{back.path}?{urlencode(query)}").status_code == 400
    assert not signed_in(client)


def test_a_callback_from_another_browser_is_refused(
    client: FlaskClient, app, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:  # type: ignore[no-untyped-def]
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"])
    back = oidc_provider.authorize(start(client, tenant), sub)
    # Login CSRF: an attacker's own finished sign-in, pushed into a victim's browser, opens nothing.
    victim = app.test_client()
    assert victim.get(back).status_code == 400
    assert victim.get("/portal/").status_code == 302


def test_a_replayed_callback_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"])
    url = start(client, tenant)
    back = oidc_provider.authorize(url, sub)
    with client.session_transaction() as cookie:
        state = cookie[sso_views_state_key()]
    assert client.get(back).status_code == 302
    client.post(
        "/portal/logout", data={"csrf_token": csrf_token(client.get("/portal/").get_data(as_text=True))}
    )
    with client.session_transaction() as cookie:
        cookie[sso_views_state_key()] = state
    response = client.get(back)
    assert response.status_code == 400 and "already used" in response.get_data(as_text=True)


def sso_views_state_key() -> str:
    from portal.views.sso import STATE_KEY

    return STATE_KEY


def test_a_sign_in_declined_at_the_provider_is_refused_and_audited(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    back = oidc_provider.deny(start(client, tenant))
    assert "error=access_denied" in back
    response = client.get(back)
    assert response.status_code == 400
    assert "Single sign-on failed" in response.get_data(as_text=True)
    assert not signed_in(client)
    # This provider leaves the state out of its error answer, so the refusal reads as a state mismatch.
    action, outcome, details = audit_trail(clean, tenant)[-1]
    assert (action, outcome) == (actions.SSO_SIGN_IN_FAILED, Outcome.FAILURE)
    assert details is not None and details["reason"] in {"state mismatch", "provider error: access_denied"}


def test_an_id_token_for_another_audience_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    # The provider itself signs it, for another client: signature and issuer hold, the audience does not.
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"], aud="another-application")
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 400
    assert "issued to another application" in response.get_data(as_text=True)
    assert not signed_in(client)
    action, outcome, details = audit_trail(clean, tenant)[-1]
    assert (action, outcome) == (actions.SSO_SIGN_IN_FAILED, Outcome.FAILURE)
    assert details is not None and str(details["reason"]).startswith("id_token aud")


def test_an_expired_id_token_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"], exp=int(time.time()) - 600)
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 400
    assert "it has expired" in response.get_data(as_text=True)
    assert not signed_in(client)
    details = audit_trail(clean, tenant)[-1][2]
    assert details is not None and str(details["reason"]).startswith("id_token exp")


def test_an_id_token_of_another_sign_in_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["mfa"], nonce="a-nonce-of-another-sign-in")
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 400 and "belongs to another sign-in" in response.get_data(as_text=True)


def test_an_id_token_signed_by_someone_else_is_refused(oidc_provider: Provider) -> None:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    jwks = requests.get(f"{oidc_provider.issuer}/jwks", timeout=5).json()
    forged = jwt.encode(
        {"alg": "RS256", "kid": jwks["keys"][0].get("kid", "k")},
        {
            "iss": oidc_provider.issuer,
            "aud": CLIENT_ID,
            "exp": int(time.time()) + 300,
            "iat": int(time.time()),
        },
        RSAKey.generate_key(2048),
    )
    with pytest.raises(sso.SsoError) as refused:
        sso.validate_id_token(
            forged,
            jwks=jwks,
            issuer=oidc_provider.issuer,
            client_id=CLIENT_ID,
            nonce="n",
            access_token=None,
            now=int(time.time()),
        )
    assert "did not verify" in refused.value.message


@pytest.mark.parametrize(
    ("claims", "shown"),
    [
        ({"email_verified": False}, "has not verified this email address"),
        ({"email": "someone@elsewhere.example"}, "at elsewhere.example may not sign in"),
    ],
)
def test_an_unverified_or_foreign_email_is_refused(
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    oidc_provider: Provider,
    claims: dict[str, object],
    shown: str,
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    sub = f"person-{len(claims)}-{time.time_ns()}"
    oidc_provider.set_user(
        sub, **{"email": tenant.owner_email, "email_verified": True, "amr": ["mfa"], **claims}
    )
    response = round_trip(client, oidc_provider, tenant, sub)
    assert response.status_code == 400 and shown in response.get_data(as_text=True)
    assert not signed_in(client)


def test_nobody_is_created_just_in_time(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    stranger = f"stranger@{domain_of(tenant)}"
    response = round_trip(client, oidc_provider, tenant, oidc_provider.new_user(stranger, amr=["mfa"]))
    assert response.status_code == 400
    assert "is not a member of this merchant account" in response.get_data(as_text=True)
    with clean.db.unit_of_work() as uow:
        assert uow.session.scalar(select(User).where(User.email == stranger)) is None


def test_a_provider_cannot_sign_in_a_member_of_another_tenant(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    shop, other = make.tenants(), make.tenants()
    # Even if shop's owner lists the other tenant's domain, its provider vouches only for shop's members.
    configure(clean, shop, oidc_provider, domains=(domain_of(shop), domain_of(other)))
    sub = oidc_provider.new_user(other.owner_email, amr=["mfa"])
    response = round_trip(client, oidc_provider, shop, sub)
    assert response.status_code == 400 and "not a member" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_the_session_acts_for_the_tenant_whose_provider_signed_the_member_in(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    first, second = make.tenants(name="First Shop"), make.tenants(name="Second Shop")
    with clean.db.unit_of_work(tenant_id=second.id) as uow:
        from tenants.service import create_user

        create_user(
            uow.session,
            clean.acting(Actor.system("test")),
            tenant_id=second.id,
            email=first.owner_email,
            role=Role.ADMIN,
            password=None,
            totp_secret=None,
        )
    configure(clean, second, oidc_provider, domains=(domain_of(first),))
    response = round_trip(
        client, oidc_provider, second, oidc_provider.new_user(first.owner_email, amr=["hwk"])
    )
    assert response.status_code == 302
    assert "Second Shop" in client.get("/portal/").get_data(as_text=True)


def test_unknown_accounts_and_accounts_without_sso_answer_404(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    assert client.get(f"/portal/sso/start/{tenant.tenant.slug}").status_code == 404
    assert client.get("/portal/sso/start/no-such-shop").status_code == 404
    response = post_form(client, "/portal/sso", {"account": tenant.tenant.slug})
    assert response.status_code == 404
    assert "No merchant account signs in with single sign-on" in response.get_data(as_text=True)


def test_the_account_form_leads_to_the_provider(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    response = post_form(client, "/portal/sso", {"account": tenant.tenant.slug.upper()})
    # A button to the provider, not a redirect (the CSP's form-action would stop one leaving the site).
    assert response.status_code == 200
    assert f'href="/portal/sso/start/{tenant.tenant.slug}"' in response.get_data(as_text=True)
    # Without the CSRF token the form is refused.
    assert client.post("/portal/sso", data={"account": tenant.tenant.slug}).status_code == 400


# --- SSO required ---------------------------------------------------------------------------------------


def test_a_tenant_requiring_sso_refuses_the_password_and_points_to_its_provider(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants(name="Strict Shop")
    configure(clean, tenant, oidc_provider, required=True)
    response = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Strict Shop requires you to sign in through Test IdP" in page
    assert f'href="/portal/sso/start/{tenant.tenant.slug}"' in page and "Sign in with Test IdP" in page
    # No code step was opened by the password.
    assert client.get("/portal/login/code").status_code == 302
    assert audit_trail(clean, tenant)[-1][:2] == (actions.PORTAL_SIGN_IN_FAILED, Outcome.FAILURE)
    # A wrong password still says only that (SSO is not revealed to someone without the password).
    wrong = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": "not it"})
    assert wrong.status_code == 200 and "requires you to sign in" not in wrong.get_data(as_text=True)
    # The provider signs the same person in.
    response = round_trip(
        client, oidc_provider, tenant, oidc_provider.new_user(tenant.owner_email, amr=["mfa"])
    )
    assert response.status_code == 302 and signed_in(client)


def test_a_tenant_not_requiring_sso_keeps_password_sign_in(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider, required=False)
    response = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")


# --- the settings ---------------------------------------------------------------------------------------


def settings_form(**fields: str) -> dict[str, str]:
    return {
        "issuer": "",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "allowed_domains": "",
        "display_name": "Test IdP",
        "enabled": "y",
        **fields,
    }


def test_an_owner_configures_sso_and_the_secret_is_stored_only_encrypted(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    sign_in_as(client, tenant.owner_email, tenant.totp_secret)
    page = client.get("/portal/settings/sso").get_data(as_text=True)
    assert "http://localhost/portal/sso/callback" in page
    response = post_form(
        client,
        "/portal/settings/sso",
        settings_form(
            issuer=oidc_provider.issuer, allowed_domains=f"{domain_of(tenant)}\nExample.ORG", required="y"
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get("/portal/settings/sso").get_data(as_text=True)
    assert "Single sign-on settings saved." in page and "Stored (encrypted)" in page
    assert CLIENT_SECRET not in page
    with inspector(clean).connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM sso_providers WHERE tenant_id = :t"), {"t": tenant.id})
            .mappings()
            .one()
        )
    domains = row["allowed_domains"]
    assert row["required"] and (json.loads(domains) if isinstance(domains, str) else domains) == [
        "example.org",
        domain_of(tenant),
    ]
    assert CLIENT_SECRET.encode() not in bytes(row["client_secret_encrypted"])
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = uow.session.scalar(select(SsoProvider))
        assert (
            stored is not None and sso.client_secret_of(uow.session, stored, kms=clean.kms) == CLIENT_SECRET
        )
    action, outcome, details = audit_trail(clean, tenant)[-1]
    assert (action, outcome) == (actions.SSO_PROVIDER_UPDATED, Outcome.SUCCESS)
    assert details is not None and "client_secret" in details["changed"] and CLIENT_SECRET not in str(details)
    assert details["required"] is True and details["client_secret_set"] is True
    # Saving again with the secret left empty keeps it.
    post_form(
        client,
        "/portal/settings/sso",
        settings_form(issuer=oidc_provider.issuer, client_secret="", allowed_domains=domain_of(tenant)),
    )
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = uow.session.scalar(select(SsoProvider))
        assert (
            stored is not None and sso.client_secret_of(uow.session, stored, kms=clean.kms) == CLIENT_SECRET
        )
        assert not stored.required


def test_the_settings_form_rejects_a_missing_csrf_token(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    sign_in_as(client, tenant.owner_email, tenant.totp_secret)
    response = client.post(
        "/portal/settings/sso",
        data=settings_form(issuer=oidc_provider.issuer, allowed_domains=domain_of(tenant)),
    )
    assert response.status_code == 400
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(SsoProvider)) is None


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"issuer": "ftp://login.example.com"}, "The issuer must be an https:// URL."),
        ({"issuer": "https://10.0.0.8"}, "not an internal address"),
        ({"allowed_domains": "not a domain"}, "is not an email domain"),
        ({"allowed_domains": "elsewhere.example", "required": "y"}, "would lock you out"),
        ({"allowed_domains": ""}, "Name at least one email domain"),
    ],
)
def test_bad_settings_are_explained_next_to_their_field(
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    oidc_provider: Provider,
    fields: dict[str, str],
    shown: str,
) -> None:
    tenant = make.tenants()
    sign_in_as(client, tenant.owner_email, tenant.totp_secret)
    form = settings_form(issuer=oidc_provider.issuer, allowed_domains=domain_of(tenant))
    response = post_form(client, "/portal/settings/sso", {**form, **fields})
    assert response.status_code == 400 and shown in response.get_data(as_text=True)


def test_an_issuer_that_is_not_an_openid_provider_is_refused(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    sign_in_as(client, tenant.owner_email, tenant.totp_secret)
    form = settings_form(issuer=oidc_provider.issuer + "/nothing-here", allowed_domains=domain_of(tenant))
    response = post_form(client, "/portal/settings/sso", form)
    assert response.status_code == 400 and "discovery document answered 404" in response.get_data(
        as_text=True
    )
    # The provider spells its issuer without the trailing slash: ID tokens would not match, so refused now.
    form = settings_form(issuer=oidc_provider.issuer + "/", allowed_domains=domain_of(tenant))
    response = post_form(client, "/portal/settings/sso", form)
    assert response.status_code == 400 and "enter the issuer exactly" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.ANALYST, Role.SUPPORT, Role.VIEWER])
def test_only_members_who_manage_the_team_reach_the_sso_settings(
    client: FlaskClient, make: Factories, clean: Runtime, role: Role
) -> None:
    tenant = make.tenants()
    email, secret = add_member(clean, tenant, role)
    sign_in_as(client, email, secret)
    assert client.get("/portal/settings/sso").status_code == 403
    assert "Single sign-on" not in client.get("/portal/").get_data(as_text=True)
    token = csrf_token(client.get("/portal/").get_data(as_text=True))
    assert client.post("/portal/settings/sso", data={"csrf_token": token}).status_code == 403


def test_the_settings_page_shows_only_the_own_tenants_provider(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    shop, other = make.tenants(), make.tenants()
    configure(clean, other, oidc_provider, client_id="the-other-tenants-client")
    sign_in_as(client, shop.owner_email, shop.totp_secret)
    page = client.get("/portal/settings/sso").get_data(as_text=True)
    assert "the-other-tenants-client" not in page and "Stored (encrypted)" not in page


def test_the_code_step_after_sso_is_limited_like_the_password_one(
    client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant = make.tenants()
    configure(clean, tenant, oidc_provider)
    round_trip(client, oidc_provider, tenant, oidc_provider.new_user(tenant.owner_email))
    wrong = pyotp.TOTP(pyotp.random_base32()).now()
    response = post_form(
        client, "/portal/login/code", {"code": wrong if wrong != tenant.code() else "000000"}
    )
    assert response.status_code == 200 and "That code is not valid" in response.get_data(as_text=True)
    assert not signed_in(client)
