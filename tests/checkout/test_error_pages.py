"""The shared error page speaks the shopper's language on the checkout; the API's JSON errors stay English.

core/web/errors.py renders the page: its title, hint and "Request id" label are in the catalogs
(babel.cfg extracts them), and the error's message is translated when the catalog has it. The session's
locale decides once the checkout has loaded it; before that (an unknown link) Accept-Language does.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from checkout import links as link_views
from core.context import Context
from core.jobs.runtime import Runtime
from core.payments import service, sessions
from core.payments.models import Payment
from core.web import errors
from tests.checkout.test_payment_links import create_link, slug_of
from tests.checkout.test_translations import extracted
from tests.fixtures import CheckedClient, Factories
from tests.payments_helpers import auth, create_session

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CARD = {"number": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123", "name": "Ada Lovelace"}
#: What the English page says, none of which may be left on a translated one.
ENGLISH = ("Not found", "Conflict", "Request id", "Check the link", "Something went wrong", "Try again")


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_page(
    response: Any, *, status: int, lang: str, shows: tuple[str, ...], checkout: bool = True
) -> None:
    text = text_of(response)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f'<html lang="{lang}">' in text
    # The checkout's own card layout and stylesheet, not the portal's full-width page.
    assert ('<main id="main" class="checkout-card">' in text) is checkout
    assert ("css/checkout.css" in text) is checkout
    assert "Traceback" not in text
    for expected in shows:
        assert expected in text, f"{expected!r} is not on the {lang} error page"
    if lang != "en":
        assert not [english for english in ENGLISH if english in text], text


def test_the_pages_texts_are_all_marked_for_translation() -> None:
    texts = [*errors._TITLES.values(), *errors._HINTS.values(), errors.NO_SUCH_RESOURCE, errors.UNEXPECTED]
    assert not [text for text in texts if (text, None) not in extracted()]
    assert ("Request id:", None) in extracted()


# --- the checkout ---------------------------------------------------------------------------------------


def test_a_session_that_expires_while_the_shopper_types_says_so_in_german(
    client: FlaskClient, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant, locale="de", cancel_url="https://shop.example/cart")
    form = client.get(f"/pay/{cs['id']}").get_data(as_text=True)
    token = CSRF.search(form)
    assert token is not None
    confirm = service.confirm

    def expired_meanwhile(session: Session, ctx: Context, **kwargs: Any) -> Payment:
        # The merchant expires the link between the shopper opening the page and pressing Pay.
        sessions.expire(session, ctx, session_id=kwargs["session_id"])
        return confirm(session, ctx, **kwargs)

    monkeypatch.setattr(service, "confirm", expired_meanwhile)
    response = client.post(
        f"/pay/{cs['id']}",
        data={"csrf_token": token.group(1), "method": "card", **CARD},
        headers={"Accept-Language": "fr"},  # the session's German wins
    )
    assert_page(
        response,
        status=409,
        lang="de",
        shows=(
            "<h1>Diese Zahlung kann nicht fortgesetzt werden</h1>",
            f"<title>Diese Zahlung kann nicht fortgesetzt werden · {tenant.tenant.name}</title>",
            "Diese Bezahlsitzung ist abgelaufen. Bitten Sie den Shop um einen neuen Zahlungslink.",
            # the shop's branding and amount, and the ways on: the page again, or back to the shop
            f'<p class="merchant-name">{tenant.tenant.name}</p>',
            '<p class="amount" id="amount">25,00\u00a0€</p>',
            f'href="/pay/{cs["id"]}">Erneut versuchen</a>',
            f'href="https://shop.example/cart">Zurück zu {tenant.tenant.name}</a>',
        ),
    )
    assert "Anfrage-ID" not in text_of(response)  # a request id is for reporting a server error


def test_an_expired_sessions_page_is_german_too(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant, locale="de")
    expired = client.post(
        f"/api/v1/checkout/sessions/{cs['id']}/expire", json={}, headers=auth(tenant.keys.secret_key)
    )
    assert expired.status_code == 200
    response = client.get(f"/pay/{cs['id']}")
    assert response.status_code == 410
    text = text_of(response)
    assert '<html lang="de">' in text and "Dieser Zahlungslink ist abgelaufen" in text


@pytest.mark.parametrize(
    "path", ["/pay/cs_01m80kjchcrwx3wm7cpn2751z4f0rcc1wgg3", "/pay/cs_nope/receipt", "/embed/cs_x"]
)
def test_an_unknown_checkout_link_is_a_french_404_under_accept_language_fr(
    client: FlaskClient, make: Factories, path: str
) -> None:
    make.tenants()
    response = client.get(path, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert_page(
        response,
        status=404,
        lang="fr",
        shows=(
            "<h1>Introuvable</h1>",
            "Ce lien de paiement n'est pas valide. Demandez-en un nouveau à la boutique.",
            '<p class="merchant-name">Kassa</p>',  # no session, no shop: Kassa's own name
        ),
    )
    # The message says what to do; no hint repeats it, and no request id for a wrong link.
    assert "Vérifiez" not in text_of(response) and "Identifiant de requête" not in text_of(response)


def test_an_unknown_checkout_address_is_a_checkout_404_with_a_hint(client: FlaskClient) -> None:
    response = client.get(
        "/pay/cs_01m80kjchcrwx3wm7cpn2751z4/no/such/step", headers={"Accept-Language": "nl"}
    )
    assert_page(
        response,
        status=404,
        lang="nl",
        shows=("<h1>Niet gevonden</h1>", "Controleer de link of vraag de winkel om een nieuwe."),
    )


def test_an_unknown_checkout_link_without_a_known_language_is_english(client: FlaskClient) -> None:
    response = client.get("/pay/cs_01m80kjchcrwx3wm7cpn2751z4f0rcc1wgg3", headers={"Accept-Language": "ja"})
    assert_page(
        response,
        status=404,
        lang="en",
        shows=("<h1>Not found</h1>", "This payment link is not valid."),
    )
    assert "Try again" not in text_of(response)  # the same link will not work a moment later


def test_too_many_visits_to_a_payment_link_is_a_spanish_429(
    client: FlaskClient, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = create_link(client, make.tenants())
    monkeypatch.setattr(link_views, "VISITS_PER_IP_HOUR", 0)
    response = client.get(f"/l/{slug_of(link)}", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert_page(
        response,
        status=429,
        lang="es",
        shows=(
            "<h1>Demasiadas solicitudes</h1>",
            "Espera un poco y vuelve a intentarlo.",
            f'href="/l/{slug_of(link)}">Reintentar</a>',
        ),
    )
    assert "request count" not in text_of(response)  # Werkzeug's stock English description


def test_an_unexpected_error_is_a_dutch_500(rt: Runtime, clean: Runtime, translations: Path) -> None:
    from wsgi import create_app

    app = create_app(rt.settings, runtime=rt)

    @app.get("/pay/boom-for-test")
    def boom() -> str:
        raise RuntimeError("secret internals")

    app.test_client_class = CheckedClient
    response = app.test_client().get("/pay/boom-for-test", headers={"Accept-Language": "nl"})
    assert_page(
        response,
        status=500,
        lang="nl",
        shows=(
            "<h1>Er is iets misgegaan</h1>",
            "Er is een onverwachte fout opgetreden.",
            "Probeer het zo opnieuw.",
            'href="/pay/boom-for-test">Opnieuw proberen</a>',
            "Verzoek-ID:",
        ),
    )
    assert "secret internals" not in text_of(response) and "RuntimeError" not in text_of(response)
    # The error page keeps every security header (CheckedClient checks them all) and is not cached.
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]


# --- what stays English ---------------------------------------------------------------------------------


@pytest.mark.parametrize("accept_language", ["de", "fr-FR,fr;q=0.9"])
def test_the_api_answers_english_json_errors(
    client: FlaskClient, make: Factories, accept_language: str
) -> None:
    tenant = make.tenants()
    headers = {"Accept-Language": accept_language, **auth(tenant.keys.secret_key)}
    unknown = client.get("/api/v1/checkout/sessions/cs_01m80kjchcrwx3wm7cpn2751z4f0rcc1wgg3", headers=headers)
    assert unknown.status_code == 404 and unknown.mimetype == "application/json"
    assert unknown.json["error"]["code"] == "resource_missing"
    assert unknown.json["error"]["message"].startswith("No such checkout session")
    no_route = client.get("/api/v1/no-such-thing", headers=headers)
    assert no_route.status_code == 404
    assert no_route.json["error"]["message"] == "No such resource."
    bad_method = client.delete("/api/v1/checkout/sessions", headers=headers)
    assert bad_method.status_code == 405
    assert bad_method.json["error"]["message"] == "The method is not allowed for the requested URL."
    invalid = client.post("/api/v1/checkout/sessions", json={"amount": 2500}, headers=headers)
    assert invalid.status_code == 400 and invalid.json["error"]["message"].isascii()


def test_the_portal_error_page_stays_english(client: FlaskClient) -> None:
    response = client.get("/portal/no-such-page", headers={"Accept-Language": "de"})
    assert_page(
        response,
        status=404,
        lang="en",
        shows=("<h1>Not found</h1>", "No such resource.", "Request id:"),
        checkout=False,
    )


def test_when_the_checkout_page_cannot_be_drawn_the_shared_page_shows(
    rt: Runtime, clean: Runtime, translations: Path
) -> None:
    from flask import g

    from wsgi import create_app

    app = create_app(rt.settings, runtime=rt)

    @app.get("/pay/broken-for-test")
    def broken() -> str:
        # Neither is a tenant or a session: drawing the shop's branding fails inside the error page.
        g.checkout_tenant, g.checkout_session = object(), object()
        raise RuntimeError("secret internals")

    app.test_client_class = CheckedClient
    response = app.test_client().get("/pay/broken-for-test")
    shows = ("<h1>Something went wrong</h1>", "Request id:")
    assert_page(response, status=500, lang="en", shows=shows, checkout=False)
    assert "secret internals" not in text_of(response)
