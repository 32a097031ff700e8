"""A real OpenID Connect provider for the single sign-on tests: oidc-provider-mock (authlib's own server
side: authorization endpoint, token endpoint with PKCE, RS256-signed ID tokens, discovery and JWKS),
served by a process of its own on a free localhost port for the whole session.

A test says who signs in and what the provider asserts with `provider.set_user(sub, email=...,
email_verified=True, amr=[...])`: those claims go into the ID token as the provider signs it, so a test
can also make the provider sign a token for another audience (`aud=...`) or one already expired (`exp=...`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests


@dataclass(frozen=True)
class Provider:
    #: `http://localhost:<port>`: the issuer the provider names in discovery and in its ID tokens.
    issuer: str

    def set_user(self, sub: str, **claims: Any) -> None:
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def new_user(self, email: str, **claims: Any) -> str:
        """A fresh subject asserting `email` (verified unless said otherwise); its `sub`."""
        sub = f"{email.split('@')[0]}-{uuid.uuid4().hex[:8]}"
        self.set_user(sub, **{"email": email, "email_verified": True, **claims})
        return sub

    def authorize(self, authorization_url: str, sub: str) -> str:
        """What a person does on the provider's sign-in page: sign in as `sub` and be sent back. The
        URL (path and query) the provider redirects the browser to."""
        return self._answer(authorization_url, {"sub": sub})

    def deny(self, authorization_url: str) -> str:
        """The person declines at the provider: where it sends the browser back (with `error=`)."""
        return self._answer(authorization_url, {"action": "deny"})

    def _answer(self, authorization_url: str, form: dict[str, str]) -> str:
        assert authorization_url.startswith(self.issuer + "/"), authorization_url
        response = requests.post(authorization_url, data=form, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        back = urlsplit(response.headers["Location"])
        return f"{back.path}?{back.query}"


#: The provider's own process: its warnings (it uses authlib's deprecated jose and JWT-config APIs) and
#: threads stay out of the suite's, where every warning is an error.
_SERVE = """
import sys, warnings
warnings.simplefilter("ignore")
from jinja2 import ChoiceLoader, DictLoader
from werkzeug.serving import make_server
from oidc_provider_mock import app
provider = app(require_nonce=True)
# Its page layout loads a stylesheet from a CDN: this machine reaches no such host, and loads nothing else.
BASE = ('<!doctype html><html lang="en"><title>Test provider</title>'
        '<main>{% block content %}{% endblock %}</main></html>')
provider.jinja_loader = ChoiceLoader([DictLoader({"_base.html": BASE}), provider.jinja_loader])
server = make_server("localhost", int(sys.argv[1]), provider, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        provider = Provider(issuer=f"http://localhost:{port}")
        for _ in range(50):
            try:
                requests.get(
                    f"{provider.issuer}/.well-known/openid-configuration", timeout=1
                ).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
