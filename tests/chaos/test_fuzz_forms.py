"""Issue 17, fuzzed input: every checkout and portal form, posted with values Hypothesis draws (empty, huge,
unicode, NUL bytes, negative and huge numbers, wrong types, missing and duplicated fields, odd files, a
forged CSRF token now and then).

The forms are found the way a browser finds them. Signed in as the owner of a tenant seeded with a row in
every table (tests.factories.seed_every_table, plus an authorized payment), the test walks the portal from
/portal/ along links and redirects, and the checkout pages of an open session and of a payment link; signed
out, the sign-in pages. It reads each page's <form method="post">: its action, fields, values and CSRF
token. The POST routes of the checkout and portal blueprints (the url_map) that no page showed a form for
(later sign-in steps, links from emails, 3-D Secure steps) are posted at their own URL, with the ids the
walk met. Each form gets `POSTS` posts; any 5xx fails the test. Figures: forms, posts, 5xx.
"""

from __future__ import annotations

import io
import os
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from core.jobs.runtime import Runtime
from tenants.models import User
from tests.chaos import figures
from tests.factories import PASSWORD, MadeTenant, seed_every_table
from tests.fixtures import Factories
from tests.portal.test_sign_in import post_form, sign_in

#: Per form; KASSA_CHAOS_FORM_POSTS digs deeper locally.
POSTS = int(os.environ.get("KASSA_CHAOS_FORM_POSTS", figures.size(2, 60)))
#: Pages the walk does not open: they sign out or leave the app.
WALKED = ("/portal/", "/pay/", "/embed/", "/l/")
NOT_WALKED = ("/portal/logout", "/portal/sso/")
#: Forms that end the signed-in session when they succeed: posted last.
SIGNING_OUT = {"portal.logout", "portal.logout_everywhere", "portal.revoke_session", "portal.switch_tenant"}
MAX_PAGES = figures.size(80, 400)


@dataclass
class Form:
    page: str
    action: str
    endpoint: str
    multipart: bool
    #: (name, type, value) in page order; a select gives its first option's value, a checkbox its value.
    fields: list[tuple[str, str, str]] = field(default_factory=list)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[tuple[str, bool, list[tuple[str, str, str]]]] = []
        self._form: list[tuple[str, str, str]] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form" and a.get("method", "get").lower() == "post":
            self._form = []
            multipart = a.get("enctype", "") == "multipart/form-data"
            self.forms.append((a.get("action", ""), multipart, self._form))
        elif self._form is None or (not a.get("name") and tag != "option"):
            return
        elif tag == "input":
            self._form.append((a["name"], a.get("type", "text").lower(), a.get("value", "")))
        elif tag == "button":
            self._form.append((a["name"], "submit", a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select is not None:
            self._form.append((self._select, "select", a.get("value", "")))
            self._select = None  # the first option stands for the list
        elif tag == "textarea":
            self._form.append((a["name"], "textarea", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _endpoint(adapter: MapAdapter, url: str) -> str | None:
    try:
        endpoint, _ = adapter.match(urlsplit(url).path, method="POST")
    except HTTPException:
        return None
    return str(endpoint)


@dataclass
class Walk:
    forms: dict[str, Form] = field(default_factory=dict)
    #: Real values of the URL arguments met on the way (payment_id -> a payment's id, ...).
    args: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    seen: set[str] = field(default_factory=set)
    per_endpoint: dict[str, int] = field(default_factory=dict)


def _collect(client: FlaskClient, adapter: MapAdapter, starts: list[str], walk: Walk) -> None:
    """Walk the pages from `starts` along their same-site links and redirects (at most two pages of each
    endpoint: one payment's page shows what any other shows); keep the first form of each POST endpoint."""
    queue = deque(url for url in starts if url not in walk.seen)
    walk.seen.update(starts)
    while queue and walk.pages < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        walk.pages += 1
        assert response.status_code < 500, f"GET {url} -> {response.status_code}"
        found: list[str] = []
        if response.status_code in (301, 302, 303) and response.location:
            found.append(response.location)
        elif response.status_code == 200 and "text/html" in response.content_type:
            page = _Page()
            page.feed(response.get_data(as_text=True))
            found += page.links
            for action, multipart, fields in page.forms:
                target = urljoin(url, action or url)
                endpoint = _endpoint(adapter, target)
                if endpoint and endpoint not in walk.forms:
                    walk.forms[endpoint] = Form(url, urlsplit(target).path, endpoint, multipart, fields)
        for href in found:
            path = urlsplit(urljoin(url, href)).path
            if path in walk.seen or not path.startswith(WALKED) or path.startswith(NOT_WALKED):
                continue
            try:
                endpoint, args = adapter.match(path, method="GET")
            except HTTPException:
                continue
            walk.seen.add(path)
            walk.args.update({name: str(value) for name, value in args.items()})
            walk.per_endpoint[endpoint] = walk.per_endpoint.get(endpoint, 0) + 1
            if walk.per_endpoint[endpoint] <= 2 and not str(endpoint).endswith("static"):
                queue.append(path)


_NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["-1", "0", "-0", "1.5", "1e309", "NaN", "-inf", "9" * 400, "0x1F", "١٢٣", "1_000"]),
)
_TEXT = st.one_of(
    st.just(""),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda t: f"{t}\x00{t}"),
    st.sampled_from(["\x00", " ", "\u202e", "😀" * 50, "<script>x</script>", "' OR 1=1 --", "%00", "\r\n"]),
    st.integers(min_value=300, max_value=15_000).map(lambda n: "ü" * n),
    st.sampled_from(["true", "null", "[]", "{}", "on", "yes", "2026-02-30", "EUR", "XXX", "a@b", "https://"]),
)
_VALUE = st.one_of(_TEXT, _NUMBERS)


@st.composite
def _fuzzed(draw: st.DrawFn, form: Form, token: str) -> tuple[list[tuple[str, Any]], bool]:
    """The body of one post: each field kept, dropped, fuzzed or sent twice; maybe an unknown field; the
    CSRF token kept nine times in ten (else the check of the token itself is fuzzed)."""
    body: list[tuple[str, Any]] = []
    for name, kind, value in form.fields:
        if name == "csrf_token":
            body.append((name, token if draw(st.integers(0, 9)) else draw(_TEXT)))
            continue
        choice = draw(st.sampled_from(["keep", "drop", "fuzz", "fuzz", "fuzz", "twice"]))
        if kind == "file":
            if choice != "drop":
                data = draw(st.one_of(st.binary(max_size=600), st.just(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)))
                body.append(
                    (name, (io.BytesIO(data), draw(st.sampled_from(["a.png", "x.csv", "", "ü\x00.txt"]))))
                )
            continue
        if choice == "keep":
            body.append((name, value))
        elif choice in ("fuzz", "twice"):
            body.append((name, draw(_VALUE)))
            if choice == "twice":
                body.append((name, draw(_VALUE)))
    if draw(st.booleans()):
        body.append((draw(st.sampled_from(["extra", "", "amount[]", "\x00"])), draw(_VALUE)))
    return body, form.multipart or draw(st.integers(0, 4)) == 0


def _token(client: FlaskClient, form: Form) -> str:
    """A fresh CSRF token of the form's page (the checkout's tokens are signed per session and time)."""
    page = _Page()
    page.feed(client.get(form.page).get_data(as_text=True))
    for action, _, fields in page.forms:
        if urlsplit(urljoin(form.page, action or form.page)).path == form.action:
            return next((value for name, _, value in fields if name == "csrf_token"), "")
    return next(
        (value for _, _, fields in page.forms for name, _, value in fields if name == "csrf_token"), ""
    )


@dataclass
class Tally:
    posts: int = 0
    failures: list[str] = field(default_factory=list)


def _fuzz(user: FlaskClient, form: Form, token: str, tally: Tally) -> None:
    """Post `POSTS` fuzzed bodies to the form; count the posts and keep each 5xx."""

    @settings(
        max_examples=POSTS,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=_fuzzed(form, token))
    def post(drawn: tuple[list[tuple[str, Any]], bool]) -> None:
        body, multipart = drawn
        data: dict[str, list[Any]] = {}
        for name, value in body:
            data.setdefault(name, []).append(value)
        kind = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
        response = user.post(form.action, data=data, content_type=kind)
        response.close()
        tally.posts += 1
        if response.status_code >= 500:
            tally.failures.append(
                f"POST {form.action} ({form.endpoint}) -> {response.status_code}: {body!r:.600}"
            )

    post()


#: The fields of a form no page showed (posted at its route's URL with the ids the walk met).
GENERIC_FIELDS = [
    ("csrf_token", "hidden", ""),
    *((name, "text", "") for name in ("amount", "email", "password", "code", "name", "reason", "url")),
]


def test_every_form_answers_fuzzed_input_without_a_5xx(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    seed_every_table(clean, tenant)
    make.payments(tenant=tenant, authorized=True)  # its page shows the capture and cancel forms
    open_session = make.sessions(tenant=tenant, amount=2500)
    adapter = app.url_map.bind("localhost")
    # The signed-out clients post from their own address: the per-IP sign-in limit they may run into
    # must not keep the owner from signing in again (after the logout form).
    anonymous = app.test_client()
    anonymous.environ_base["REMOTE_ADDR"] = "203.0.113.201"
    signed_out = Walk()
    _collect(anonymous, adapter, ["/portal/login", "/portal/forgot-password", "/portal/sso"], signed_out)
    # Past the password, at the authentication code: another tenant's owner, whom fuzzed codes may lock.
    halfway = app.test_client()
    halfway.environ_base["REMOTE_ADDR"] = "203.0.113.202"
    stranger = make.tenants()
    first_step = post_form(halfway, "/portal/login", {"email": stranger.owner_email, "password": PASSWORD})
    assert first_step.status_code == 302, first_step.status_code
    at_code = Walk()
    _collect(halfway, adapter, ["/portal/login/code", "/portal/login/recovery"], at_code)
    sign_in(client, tenant)
    owner = Walk()
    _collect(client, adapter, ["/portal/"], owner)
    _collect(
        client,
        adapter,
        [f"/pay/{open_session.id}", f"/embed/{open_session.id}", *_links(client, tenant)],
        owner,
    )

    posting = sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if "POST" in (rule.methods or ()) and rule.endpoint.split(".")[0] in ("portal", "checkout")
        ),
        key=lambda rule: rule.rule,
    )
    targets: list[tuple[FlaskClient, Form]] = [(client, form) for form in owner.forms.values()]
    targets += [(halfway, f) for e, f in at_code.forms.items() if e not in owner.forms]
    shown = {form.endpoint for _, form in targets}
    targets += [(anonymous, f) for e, f in signed_out.forms.items() if e not in shown]
    shown = {form.endpoint for _, form in targets}
    for rule in posting:  # a form no page showed: at its own URL, with the ids the walk met
        if rule.endpoint not in shown:
            shown.add(rule.endpoint)
            url = rule.build(
                {name: owner.args.get(name, "x") for name in rule.arguments}, append_unknown=False
            )
            assert url is not None
            targets.append((client, Form("/portal/", url[1], rule.endpoint, False, GENERIC_FIELDS)))
    targets.sort(key=lambda target: (target[1].endpoint in SIGNING_OUT, target[1].endpoint))

    tally = Tally()
    for user, form in targets:
        _fuzz(user, form, _token(user, form), tally)
        if user is client and client.get("/portal/").status_code != 200:
            _sign_in_again(client, clean, tenant)  # the form signed out (logout, say): fine

    figures.record(
        "form fuzzer: every checkout and portal form",
        zero=("5xx",),
        forms=len(targets),
        shown_on_pages=len(set(owner.forms) | set(at_code.forms) | set(signed_out.forms)),
        pages=owner.pages + at_code.pages + signed_out.pages,
        posts=tally.posts,
        **{"5xx": len(tally.failures)},
    )
    assert {form.endpoint for _, form in targets} == {rule.endpoint for rule in posting}
    assert tally.posts >= len(targets) * POSTS
    assert not tally.failures, "\n".join(tally.failures[:20])


def _sign_in_again(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> None:
    # The authentication code of this 30 s step was used already, and a used code is refused: forget it.
    with rt.db.unit_of_work() as uow:
        owner = uow.session.get(User, tenant.owner.id)
        assert owner is not None
        owner.totp_last_step = None
    sign_in(client, tenant)


def _links(client: FlaskClient, tenant: MadeTenant) -> list[str]:
    """The checkout pages of the tenant's payment links."""
    links = client.get("/api/v1/payment_links", headers={"Authorization": f"Bearer {tenant.keys.secret_key}"})
    listed = links.get_json()
    assert links.status_code == 200 and listed["data"], "seed_every_table makes a payment link"
    return [urlsplit(link["url"]).path for link in listed["data"]]
