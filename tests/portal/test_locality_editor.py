"""The portal's locality rules editor: a rule saved in the draft and published changes what the hosted page
offers; a change scheduled for later applies only from its moment; the preview and the dry run count what
the hosted page would do; a surcharge where the law forbids one is refused with the reason; restore,
history, audit, modes and other tenants."""

from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants.models import Role
from tests.checkout.test_locality_on_page import tabs
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session, page_text
from tests.portal.team_helpers import add_member, sign_in_as
from tests.portal.test_portal_mode import switch
from tests.portal.test_sign_in import csrf_token, sign_in

EDITOR = "/portal/locality"
WALLET_UP_TO_100 = {"country": "DE", "currency": "EUR", "wallet_max": "100.00"}


def post(client: FlaskClient, url: str, data: dict[str, str | list[str]]) -> object:
    token = csrf_token(client.get(EDITOR).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def save_rule(client: FlaskClient, **fields: str | list[str]) -> str:
    response = post(client, f"{EDITOR}/draft/rule", fields)
    assert response.status_code in (200, 303), response.status_code  # type: ignore[attr-defined]
    if response.status_code == 303:  # type: ignore[attr-defined]
        return str(client.get(EDITOR).get_data(as_text=True))
    return str(response.get_data(as_text=True))  # type: ignore[attr-defined]


def publish(client: FlaskClient, **fields: str) -> str:
    response = post(client, f"{EDITOR}/draft/publish", {"when": "now", **fields})
    assert response.status_code == 303, response.get_data(as_text=True)  # type: ignore[attr-defined]
    return str(client.get(EDITOR).get_data(as_text=True))


def offered(client: FlaskClient, tenant: MadeTenant, amount: int) -> list[str]:
    cs = create_session(client, tenant, amount=amount, country="DE")
    return tabs(page_text(client.get(f"/pay/{cs['id']}")))


def audit_actions(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(
            uow.session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_type == "locality_rule_version")
                .order_by(AuditEvent.seq)
            )
        )


def test_a_rule_saved_and_published_changes_what_the_hosted_page_offers(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    assert offered(client, tenant, 12_000) == ["Card", "Wallet", "Online banking"]
    page = save_rule(client, **WALLET_UP_TO_100)
    assert "Wallet only up to 100.00 EUR" in page and "a draft" in page
    assert offered(client, tenant, 12_000) == ["Card", "Wallet", "Online banking"]  # a draft governs nothing
    page = publish(client, note="Wallet off above 100 EUR in DE")
    assert "Version 1 is in force now." in page
    assert offered(client, tenant, 12_000) == ["Card", "Online banking"]
    assert offered(client, tenant, 10_000) == ["Card", "Wallet", "Online banking"]  # inclusive limit
    assert audit_actions(clean, tenant) == [
        "locality_rule_version.drafted",
        "locality_rule_version.updated",
        "locality_rule_version.updated",
        "locality_rule_version.published",
    ]
    # The API's rule routes show (and change) what is in force.
    listed = client.get("/api/v1/locality_rules", headers=auth(tenant.keys.secret_key)).json["data"]
    assert [(r["country"], r["method_limits"]) for r in listed] == [
        ("DE", [{"method": "wallet", "currency": "EUR", "max": 10_000}])
    ]


def test_a_change_scheduled_for_later_applies_only_from_then(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    save_rule(client, **WALLET_UP_TO_100)
    at = (clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = post(client, f"{EDITOR}/draft/publish", {"when": "later", "effective_at": at})
    assert response.status_code == 303  # type: ignore[attr-defined]
    page = client.get(EDITOR).get_data(as_text=True)
    assert "Scheduled changes" in page and "is scheduled for" in page
    assert offered(client, tenant, 12_000) == ["Card", "Wallet", "Online banking"]
    clock.advance(hours=1, minutes=59)
    assert offered(client, tenant, 12_000) == ["Card", "Wallet", "Online banking"]
    clock.advance(minutes=1)
    assert offered(client, tenant, 12_000) == ["Card", "Online banking"]
    # (The portal session has idled out by now: the API shows the version's state.)
    [version] = client.get("/api/v1/locality_rule_versions", headers=auth(tenant.keys.secret_key)).json[
        "data"
    ]
    assert version["status"] == "in_force" and version["number"] == 1


def test_a_time_in_the_past_is_refused_for_a_schedule(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    save_rule(client, **WALLET_UP_TO_100)
    past = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = post(client, f"{EDITOR}/draft/publish", {"when": "later", "effective_at": past})
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "effective_at must be in the future" in response.get_data(as_text=True)  # type: ignore[attr-defined]


def test_a_surcharge_where_the_law_forbids_one_is_refused_with_the_reason(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    page = save_rule(client, country="FR", currency="EUR", surcharge="2")
    assert "Card surcharges on consumer payments are not allowed in FR (EU PSD2 / UK rules)" in page
    assert 'id="surcharge-error"' in page and "No draft." in page  # nothing was kept
    assert audit_actions(clean, tenant) == []
    page = save_rule(client, country="US", currency="USD", surcharge="2")
    assert "Card surcharge 2%" in page  # allowed where the law allows it
    # The API refuses the same, naming the field.
    refused = client.post(
        "/api/v1/locality_rule_versions",
        json={"rules": [{"country": "GB", "surcharge_bps": 100}]},
        headers=auth(tenant.keys.secret_key),
    )
    assert refused.status_code == 400
    assert refused.json["error"]["param"] == "surcharge_bps"
    assert "not allowed in GB" in refused.json["error"]["message"]


def test_the_preview_says_what_a_shopper_sees(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    save_rule(
        client,
        **WALLET_UP_TO_100,
        required_fields="postal_code",
        three_ds="required",
        default_language="de",
    )
    page = client.get(f"{EDITOR}?country=DE&currency=EUR&amount=120.00").get_data(as_text=True)
    assert (
        "A shopper in DE paying 120.00 EUR sees: Card, Wallet, Online banking; "
        "3DS when the issuer asks; English" in page
    )
    assert (
        "A shopper in DE paying 120.00 EUR sees: Card, Online banking; postal code required; 3DS; German"
        in page
    )
    assert "Wallet is offered only up to 100.00 EUR." in page
    fragment = client.get(
        f"{EDITOR}?country=DE&currency=EUR&amount=80.00", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="preview"') and "<h1>" not in fragment
    assert (
        "paying 80.00 EUR sees: Card, Wallet, Online banking; postal code required; 3DS; German" in fragment
    )
    bad = client.get(f"{EDITOR}?country=XX&currency=EUR&amount=1").get_data(as_text=True)
    assert 'role="alert"' in bad and "XX" in bad


def test_the_dry_run_counts_the_payments_the_draft_would_have_changed(
    client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants(country="DE", currency="EUR")

    def paid(amount: int, method: str, country: str = "DE") -> str:
        cs = make.sessions(tenant=tenant, amount=amount, country=country)
        postal = "10001" if country == "US" else None
        return str(
            make.payments(tenant=tenant, session=cs, method=method, postal_code=postal, pending=True).id
        )

    clock.advance(days=-40)
    paid(50_000, "wallet")  # older than 30 days: not looked at
    clock.advance(days=40)
    wallet_over = [paid(12_000, "wallet") for _ in range(3)]
    paid(9_000, "wallet")  # under the wallet limit
    over_max = [paid(60_000, "card") for _ in range(2)]  # over the new maximum of 500.00 EUR
    paid(60_000, "card", country="US")  # another country's rules do not change
    paid(2_000, "bank")
    sign_in(client, tenant)
    save_rule(client, **WALLET_UP_TO_100, max_amount="500.00")
    page = client.get(f"{EDITOR}/dry-run").get_data(as_text=True)
    assert "Would have changed 5 payments: 3 would not have been offered Wallet, 2 over the new limit" in page
    assert "(8 payments examined)" in page
    listed = re.findall(r"<code class=\"small\">(pay_[0-9a-z]+)</code>", page)
    assert sorted(listed) == sorted(wallet_over + over_max)
    # The API gives the same answer for the draft.
    [draft] = client.get("/api/v1/locality_rule_versions", headers=auth(tenant.keys.secret_key)).json["data"]
    result = client.get(
        f"/api/v1/locality_rule_versions/{draft['id']}/dry_run", headers=auth(tenant.keys.secret_key)
    ).json
    assert result["affected"] == 5 and result["counts"] == {"not_offered:wallet": 3, "over_limit": 2}


def test_history_and_restore(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    save_rule(client, **WALLET_UP_TO_100)
    publish(client)
    save_rule(client, country="DE", currency="EUR", methods=["card"])
    publish(client)
    assert offered(client, tenant, 5_000) == ["Card"]
    page = client.get(EDITOR).get_data(as_text=True)
    first = re.search(r'href="/portal/locality/versions/(lrver_[0-9a-z]+)">Version 1<', page)
    assert first is not None and "superseded" in page and "in force" in page
    detail = client.get(f"/portal/locality/versions/{first.group(1)}").get_data(as_text=True)
    assert "Wallet only up to 100.00 EUR" in detail and "Restore this version" in detail
    token = csrf_token(detail)
    response = client.post(f"/portal/locality/versions/{first.group(1)}/restore", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Version 3 restores the rules" in client.get(EDITOR).get_data(as_text=True)
    assert offered(client, tenant, 5_000) == ["Card", "Wallet", "Online banking"]
    assert "locality_rule_version.restored" in audit_actions(clean, tenant)


def test_another_tenants_or_modes_versions_are_not_found(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    made = client.post(
        "/api/v1/locality_rule_versions",
        json={"rules": [{"country": "DE", "methods": ["card"]}]},
        headers=auth(other.keys.secret_key),
    ).json
    assert made["status"] == "draft"
    sign_in(client, tenant)
    assert client.get(f"/portal/locality/versions/{made['id']}").status_code == 404
    token = csrf_token(client.get(EDITOR).get_data(as_text=True))
    assert (
        client.post(f"/portal/locality/versions/{made['id']}/restore", data={"csrf_token": token}).status_code
        == 404
    )
    assert (
        client.post(f"/portal/locality/versions/{made['id']}/cancel", data={"csrf_token": token}).status_code
        == 404
    )
    headers = auth(tenant.keys.secret_key)
    assert client.get(f"/api/v1/locality_rule_versions/{made['id']}", headers=headers).status_code == 404
    assert (
        client.post(
            f"/api/v1/locality_rule_versions/{made['id']}/publish", json={}, headers=headers
        ).status_code
        == 404
    )
    # The other tenant's own test-mode draft is not its live mode's.
    live = auth(other.keys.live_secret_key) if hasattr(other.keys, "live_secret_key") else None
    if live is not None:
        assert client.get(f"/api/v1/locality_rule_versions/{made['id']}", headers=live).status_code == 404


def test_each_mode_has_its_own_rules_in_the_editor(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    sign_in(client, tenant)
    save_rule(client, **WALLET_UP_TO_100)
    publish(client)
    switch(client, "live", EDITOR)
    page = client.get(EDITOR).get_data(as_text=True)
    assert "Live mode: these rules govern live checkouts only." in page
    assert "Wallet only up to" not in page and "No versions yet" in page
    switch(client, "test", EDITOR)
    assert "Wallet only up to 100.00 EUR" in client.get(EDITOR).get_data(as_text=True)


def test_the_editor_needs_a_csrf_token(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    response = client.post(f"{EDITOR}/draft/rule", data=WALLET_UP_TO_100)
    assert response.status_code == 400
    assert "No draft." in client.get(EDITOR).get_data(as_text=True)


def test_a_viewer_sees_the_rules_but_cannot_change_them(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(country="DE", currency="EUR")
    email, secret = add_member(clean, tenant, Role.VIEWER)
    sign_in_as(client, email, secret)
    page = client.get(EDITOR).get_data(as_text=True)
    assert "<h1>Locality rules</h1>" in page and "Preview" in page
    assert "Save to draft" not in page and "Publish the draft" not in page
    token = csrf_token(page)
    refused = client.post(f"{EDITOR}/draft/rule", data={**WALLET_UP_TO_100, "csrf_token": token})
    assert refused.status_code == 403
    assert audit_actions(clean, tenant) == []
