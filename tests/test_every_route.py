"""Walk every URL rule of the app, anonymously, as a signed-in admin and with an API key.

The CheckedClient (conftest) fails on any response without the security headers, and no route may answer
5xx whatever it is sent.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.portal.test_sign_in import sign_in

SAMPLE_ARGS = {"session_id": "cs_01jd8x000000000000000000000000000000", "filename": "css/kassa.css"}
BODIES: list[object] = [None, {}, {"x": "y"}, "junk"]


def _urls(app: Flask) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        args = {name: SAMPLE_ARGS.get(name, "x") for name in rule.arguments}
        url = rule.build(args, append_unknown=False)
        assert url is not None
        for method in sorted(rule.methods - {"OPTIONS"}):
            urls.append((method, url[1]))
    return urls


def _walk(client: FlaskClient, headers: dict[str, str] | None = None) -> int:
    seen = 0
    for method, url in _urls(client.application):
        for body in BODIES if method in ("POST", "PATCH", "PUT") else [None]:
            kwargs: dict[str, object] = {"headers": headers or {}}
            if isinstance(body, dict):
                kwargs["json"] = body
            elif body is not None:
                kwargs["data"] = body
            response = client.open(url, method=method, **kwargs)
            response.close()
            assert response.status_code < 500, f"{method} {url} -> {response.status_code}"
            seen += 1
    return seen


def test_every_route_anonymously(client: FlaskClient) -> None:
    assert _walk(client) > 10


def test_every_route_signed_in(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert _walk(client) > 10


def test_every_route_with_an_api_key(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    assert _walk(client, {"Authorization": f"Bearer {tenant.keys.secret_key}"}) > 10


@pytest.mark.parametrize("surfaces", [("checkout",), ("portal",), ("api",)])
def test_an_app_serves_only_the_surfaces_it_is_given(rt: Runtime, surfaces: tuple[str, ...]) -> None:
    from wsgi import create_app

    app = create_app(rt.settings, surfaces=surfaces, runtime=rt)
    prefixes = {rule.rule.split("/")[1] for rule in app.url_map.iter_rules()}
    expected = {"checkout": "pay", "portal": "portal", "api": "api"}
    for surface, prefix in expected.items():
        assert (prefix in prefixes) == (surface in surfaces)


def test_error_pages_show_no_trace(rt: Runtime, clean: Runtime) -> None:
    from tests.fixtures import CheckedClient
    from wsgi import create_app

    app = create_app(rt.settings, runtime=rt)

    @app.get("/boom-for-test")
    def boom() -> str:
        raise RuntimeError("secret internals 4242424242424242")

    app.test_client_class = CheckedClient
    response = app.test_client().get("/boom-for-test")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in text and "Request id" in text
    assert "secret internals" not in text and "Traceback" not in text and "4242" not in text
