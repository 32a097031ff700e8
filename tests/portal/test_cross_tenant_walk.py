"""Signed in to tenant A, every portal route with an id in its path, given the id of one of tenant B's
objects (payments, refunds, checkout sessions, keys, members, invitations, roles, approvals, audit
events, payouts, disputes, webhook endpoints and deliveries, notifications, portal sessions), answers
404: as a page, as an HTMX fragment and as a form POST carrying A's valid CSRF token. Nothing of B's
changes, and B's ids appear in no answer.

The walk goes over the portal's route table (portal/views/blueprint.py `ROUTES`): a new route with an
id argument this file does not know fails the test until it is added to `TABLE_OF_ARGUMENT`.

Both walks run twice: on the suite's app, and on an app whose connections go through a real pgbouncer
in transaction pooling mode (tests/pgbouncer.py), where A's requests run on server connections B's
sign-in and seeding just used.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from core.jobs.runtime import Runtime
from core.web.access import PUBLIC
from portal.views.blueprint import ROUTES
from tests.factories import MadeTenant, seed_every_table
from tests.fixtures import Factories, inspector
from tests.portal.test_sign_in import csrf_token, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: A path argument -> the table whose row of tenant B it names.
TABLE_OF_ARGUMENT = {
    "payment_id": "payments",
    "refund_id": "refunds",
    "payout_id": "payouts",
    "dispute_id": "disputes",
    "endpoint_id": "webhook_endpoints",
    "delivery_id": "webhook_deliveries",
    "event_id": "audit_events",
    "recipient_id": "notification_recipients",
    "membership_id": "memberships",
    "invitation_id": "invitations",
    "role_id": "custom_roles",
    "key_id": "api_keys",
    "request_id": "approval_requests",
    "version_id": "locality_rule_versions",
    "schedule_id": "report_schedules",
    "block_id": "risk_block_list",
    # Routes other features may add (the payout bank account): named the usual ways.
    "bank_account_id": "bank_accounts",
    "account_id": "bank_accounts",
}
#: An argument of several routes that names different objects, by endpoint.
TABLE_OF_ENDPOINT_ARGUMENT = {
    ("checkout_session", "session_id"): "checkout_sessions",
    ("revoke_session", "session_id"): "portal_sessions",
}
_ARGUMENT = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")
#: Arguments that are no object's id: a report's name, and the public routes' tokens and slugs.
NOT_IDS = {"kind"}


@pytest.fixture(params=["direct", "pgbouncer"])
def client(request: pytest.FixtureRequest, client: FlaskClient) -> FlaskClient:
    if request.param == "pgbouncer":
        pooled: FlaskClient = request.getfixturevalue("pooled_app").test_client()
        return pooled
    return client


def _id_of(rt: Runtime, table: str, tenant: MadeTenant) -> str:
    with inspector(rt).connect() as conn:
        if table == "portal_sessions":  # global, like users: B's owner's session
            found = conn.execute(
                text(
                    "SELECT s.id FROM portal_sessions s JOIN users u ON u.id = s.user_id "
                    "WHERE u.email = :e AND s.revoked_at IS NULL"
                ),
                {"e": tenant.owner_email},
            ).scalar()
        else:
            found = conn.execute(
                text(f"SELECT id FROM {table} WHERE tenant_id = :t ORDER BY id LIMIT 1"),
                {"t": tenant.id},
            ).scalar()
    assert found, f"tenant B has no {table} row to walk with"
    return str(found)


def _routes_with_ids() -> list[tuple[str, str, tuple[str, ...], list[str]]]:
    found = []
    for route in ROUTES:
        arguments = _ARGUMENT.findall(route.rule)
        if route.access == PUBLIC or not arguments or set(arguments) <= NOT_IDS:
            continue
        found.append((route.rule, route.endpoint, route.methods, arguments))
    return found


def _table(endpoint: str, argument: str) -> str:
    table = TABLE_OF_ENDPOINT_ARGUMENT.get((endpoint, argument)) or TABLE_OF_ARGUMENT.get(argument)
    assert table, (
        f"portal.{endpoint} takes <{argument}>, which tests/portal/test_cross_tenant_walk.py does not know: "
        "add the table it names to TABLE_OF_ARGUMENT"
    )
    return table


def _snapshot(rt: Runtime, tenant: MadeTenant) -> dict[str, object]:
    """What a leaked write would change in B: its rows of the walked tables, and its audit chain's end."""
    tables = sorted({*TABLE_OF_ARGUMENT.values(), *TABLE_OF_ENDPOINT_ARGUMENT.values()} - {"portal_sessions"})
    state: dict[str, object] = {}
    with inspector(rt).connect() as conn:
        for table in tables:
            rows = conn.execute(
                text(f"SELECT * FROM {table} WHERE tenant_id = :t ORDER BY id"),
                {"t": tenant.id},
            ).all()
            state[table] = [tuple(str(v) for v in r) for r in rows]
        state["portal_sessions"] = conn.execute(
            text(
                "SELECT s.id, s.revoked_at FROM portal_sessions s JOIN users u ON u.id = s.user_id "
                "WHERE u.email = :e ORDER BY s.id"
            ),
            {"e": tenant.owner_email},
        ).all()
    return state


def test_every_portal_route_with_an_id_answers_404_for_another_tenants_object(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    mine, theirs = make.tenants(), make.tenants()
    seed_every_table(clean, theirs)
    sign_in(client.application.test_client(), theirs)  # an open portal session of B's owner
    routes = _routes_with_ids()
    assert len(routes) >= 30  # the table is walked, not a sample
    walked = {
        endpoint: {a: _id_of(clean, _table(endpoint, a), theirs) for a in arguments}
        for _rule, endpoint, _methods, arguments in routes
    }
    before = _snapshot(clean, theirs)
    sign_in(client, mine)  # an owner of A: every permission, so nothing is refused with 403 first
    token = csrf_token(client.get("/portal/account").get_data(as_text=True))
    leaks: list[str] = []
    for rule, endpoint, methods, _arguments in routes:
        ids = walked[endpoint]
        url = "/portal" + _ARGUMENT.sub(lambda m, ids=ids: ids[m.group(1)], rule)  # type: ignore[misc]
        # A's token under every name a form of the portal reads it from (prefixed forms: `<id>-csrf_token`).
        form = {"csrf_token": token, **{f"{v}-csrf_token": token for v in ids.values()}}
        form |= {f"{p}-csrf_token": token for p in ("pw", "rc")}
        form |= {"amount": "1.00", "confirmed": "yes", "role": "viewer", "overlap": "0", "note": "walk"}
        attempts = []
        if "GET" in methods:
            attempts += [("GET", {}, None), ("GET", {"HX-Request": "true"}, None)]
        if "POST" in methods:
            attempts += [("POST", {}, form), ("POST", {"HX-Request": "true"}, form)]
        for method, headers, data in attempts:
            response = client.open(url, method=method, headers=headers, data=data)
            body = response.get_data(as_text=True)
            htmx = " (HTMX)" if headers else ""
            if response.status_code != 404:
                leaks.append(f"{method} {url}{htmx} -> {response.status_code}")
            elif theirs.tenant.name in body or theirs.owner_email in body:
                leaks.append(f"{method} {url}{htmx}: the 404 page names tenant B")
    assert not leaks, "\n".join(leaks)
    assert _snapshot(clean, theirs) == before  # nothing of B's changed
    assert client.get("/portal/").status_code == 200  # and A's session still works


def test_filters_given_another_tenants_ids_answer_as_for_ids_that_do_not_exist(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    """The list screens' filters and the CSV export take ids as query parameters: another tenant's id
    gets exactly the answer an id that exists nowhere gets (no row, no count of theirs)."""
    mine, theirs = make.tenants(), make.tenants()
    seed_every_table(clean, theirs)
    with inspector(clean).connect() as conn:
        their_owner = conn.execute(
            text("SELECT id FROM users WHERE email = :e"), {"e": theirs.owner_email}
        ).scalar()
    assert isinstance(their_owner, str)
    payment, refund = _id_of(clean, "payments", theirs), _id_of(clean, "refunds", theirs)
    nowhere = {payment: "pay_" + "0" * 26, refund: "re_" + "0" * 26, their_owner: "usr_" + "0" * 26}
    nowhere[theirs.owner_email] = "nobody@nowhere.example"
    sign_in(client, mine)
    for template, value in (
        ("/portal/audit?subject={}", payment),
        ("/portal/audit?actor={}", their_owner),
        ("/portal/audit?actor={}", theirs.owner_email),
        ("/portal/audit/export.csv?subject={}", payment),
        ("/portal/payments?q={}", payment),
        ("/portal/refunds?q={}", refund),
    ):
        theirs_status, theirs_body = _answer(client, template.format(value))
        nowhere_status, nowhere_body = _answer(client, template.format(nowhere[value]))
        assert theirs_status == nowhere_status and theirs_status < 500, template
        assert theirs_body.replace(value, nowhere[value]) == nowhere_body, template


def _answer(client: FlaskClient, url: str) -> tuple[int, str]:
    response = client.get(url)
    body = _without_nonces(response.get_data(as_text=True))  # read to the end (the CSV streams)
    response.close()
    return response.status_code, body


def _without_nonces(html: str) -> str:
    """The page without what differs on every answer (CSP nonces, time-stamped CSRF tokens)."""
    html = re.sub(r'nonce="[^"]*"', 'nonce=""', html)
    return re.sub(r'(csrf_token" type="hidden" value|name="csrf-token" content)="[^"]*"', r'\1=""', html)
