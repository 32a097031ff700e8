"""`kassa demo` / `make demo`: everything in one process on SQLite and the in-process Redis stand-in."""

from __future__ import annotations

import secrets
import shlex
import sys
import threading

import click
import pyotp
from flask import Flask, Response, abort, current_app, render_template_string, request
from sqlalchemy import select

from checkout.embed import widget_sri
from core.context import Actor
from core.jobs.runtime import Runtime
from core.jobs.worker import run_cron_thread, run_worker_thread
from core.migrate import upgrade
from core.payments import sessions
from core.web.devserver import make_dev_server
from tenants import checkout_settings
from tenants.models import KeyKind, KeyMode, Tenant
from tenants.service import create_tenant, create_user, issue_key

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.kassa.test"
DEMO_PASSWORD = "kassa-demo-password"  # noqa: S105  (the demo's published sign-in)
#: Published on purpose: the demo prints it so a newcomer can add it to an authenticator app.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105


def seed(rt: Runtime) -> tuple[Tenant, str, str]:
    """The demo tenant and owner (made once), and a fresh test secret key for this run."""
    actor = Actor.system("demo")
    with rt.db.unit_of_work() as uow:
        tenant = uow.session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if tenant is None:
            tenant, keys = create_tenant(
                uow.session,
                rt.context(uow, actor),
                name="Demo Shop",
                slug=DEMO_SLUG,
                country="NL",
                currency="EUR",
            )
            create_user(
                uow.session,
                rt.context(uow, actor),
                tenant_id=tenant.id,
                email=DEMO_EMAIL,
                role="owner",
                password=DEMO_PASSWORD,
                totp_secret=DEMO_TOTP_SECRET,
            )
            return tenant, keys.publishable_key, keys.secret_key
        uow.bind_tenant(tenant.id)
        publishable = issue_key(
            uow.session,
            rt.context(uow, actor),
            tenant_id=tenant.id,
            kind=KeyKind.PUBLISHABLE,
            mode=KeyMode.TEST,
        )
        secret = issue_key(
            uow.session, rt.context(uow, actor), tenant_id=tenant.id, kind=KeyKind.SECRET, mode=KeyMode.TEST
        )
        return tenant, publishable, secret


def allow_origin(rt: Runtime, tenant_id: str, origin: str) -> None:
    """Put the demo shop's origin on the demo tenant's test-mode widget allowlist (kept with any others)."""
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        current = checkout_settings.view(uow.session, tenant_id=tenant_id, livemode=False)["allowed_origins"]
        if origin not in current:
            checkout_settings.update(
                uow.session,
                rt.context(uow, Actor.system("demo")),
                tenant_id=tenant_id,
                livemode=False,
                changes={"allowed_origins": [*current, origin]},
            )


SHOP_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} · Kassa demo shop</title>
  <style nonce="{{ nonce }}">
    body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem;
           color: #1b1f24; background: #fbf7f2; line-height: 1.5; }
    .product { display: flex; justify-content: space-between; border-bottom: 1px solid #d0d7de; }
    #checkout { margin: 1rem 0; background: #fff; border: 1px solid #d0d7de; border-radius: 10px; }
    #events { font: .85rem ui-monospace, monospace; color: #57606a; }
  </style>
</head>
<body>
  <h1>{{ title }}</h1>
  {% if cs %}
  <p>This page is a merchant's shop on its own origin ({{ shop }}). The payment form below is Kassa's
     checkout page in the widget's iframe: card data never touches this shop.</p>
  <p class="product"><span>Ceramic mug, speckled</span><strong>€12.00</strong></p>
  <div id="checkout" data-key="{{ publishable }}" data-session="{{ cs }}"></div>
  <p>Test card 4242 4242 4242 4242, any future expiry, any CVC.</p>
  <h2>Widget events</h2>
  <ol id="events"></ol>
  <script src="{{ kassa }}/static/widget/v1/kassa.js" integrity="{{ sri }}" crossorigin="anonymous"></script>
  <script nonce="{{ nonce }}">
    window.events = [];
    var box = document.getElementById("checkout");
    function log(name) {
      return function (data) {
        window.events.push({ type: name, data: data });
        var item = document.createElement("li");
        item.textContent = name + " " + JSON.stringify(data);
        document.getElementById("events").appendChild(item);
      };
    }
    Kassa(box.dataset.key)
      .mount(box, { session: box.dataset.session })
      .on("ready", log("ready"))
      .on("resize", log("resize"))
      .on("failure", log("failure"))
      .on("cancel", log("cancel"))
      .on("success", function (data) {
        log("success")(data);
        window.location.href = "/thanks?session_id=" + encodeURIComponent(data.session);
      });
  </script>
  {% else %}
  <p>Order confirmed by the shop's server: checkout session <code>{{ session_id }}</code> is
     <strong>{{ status }}</strong>{% if payment %}, payment <code>{{ payment }}</code>{% endif %}.</p>
  <p><a href="/">Buy another mug</a></p>
  {% endif %}
</body>
</html>
"""


def make_shop(kassa: Flask, *, kassa_base: str, shop_origin: str, secret: str, publishable: str) -> Flask:
    """A merchant's tiny shop on another origin: makes a checkout session server-side with the secret key
    (the same API request a merchant's server sends, made in-process) and embeds the widget."""
    shop = Flask("kassa_demo_shop")
    api_headers = {"Authorization": f"Bearer {secret}"}

    def page(**context: object) -> Response:
        nonce = secrets.token_urlsafe(18)
        body = render_template_string(
            SHOP_PAGE, nonce=nonce, kassa=kassa_base, shop=shop_origin, sri=widget_sri(), **context
        )
        response = Response(body, mimetype="text/html")
        # The CSP a merchant's page needs for the widget (docs/widget.md): Kassa's script and frame.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}' {kassa_base}; frame-src {kassa_base}; "
            f"style-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'"
        )
        return response

    @shop.get("/")
    def index() -> Response:
        made = kassa.test_client().post(
            "/api/v1/checkout/sessions",
            json={"amount": 1200, "currency": "EUR", "description": "Ceramic mug", "reference": "demo-mug"},
            headers=api_headers,
        )
        if made.status_code != 201:
            abort(502)
        return page(title="Demo shop", cs=made.get_json()["id"], publishable=publishable)

    @shop.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @shop.get("/thanks")
    def thanks() -> Response:
        session_id = request.args.get("session_id", "")
        found = kassa.test_client().get(f"/api/v1/checkout/sessions/{session_id}", headers=api_headers)
        if found.status_code != 200:
            abort(404)
        cs = found.get_json()
        return page(
            title="Thank you", session_id=cs["id"], status=cs["status"], payment=cs["payment"], cs=None
        )

    return shop


def demo_checkout(rt: Runtime, tenant: Tenant, *, base_url: str) -> str:
    """A fresh open checkout session for the demo tenant (a shopper's hosted page to try at once)."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = checkout_settings.session_terms(uow.session, tenant_id=tenant.id, livemode=False)
        cs = sessions.create(
            uow.session,
            rt.context(uow, Actor.system("demo")),
            terms=ctx,
            data={
                "amount": 2450,
                "currency": tenant.default_currency,
                "description": "Demo order: coffee beans, 1 kg",
            },
        )
        return f"{base_url}/pay/{cs.id}"


def totp_command() -> str:
    """A shell command that prints the current code. It names the interpreter running the demo (the
    project's .venv under `make demo`): a bare `python` outside the venv has no pyotp."""
    code = f"import pyotp; print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def run_demo(rt: Runtime, *, host: str, port: int, shop_port: int = 5001) -> None:
    settings = rt.settings
    click.echo("Migrating the demo database …")
    upgrade(settings)
    tenant, publishable, secret = seed(rt)
    # Browsers reach the servers by this name; a wildcard bind address is not one.
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    base = f"http://{public_host}:{port}"
    shop_origin = f"http://{public_host}:{shop_port}"
    allow_origin(rt, tenant.id, shop_origin)
    checkout_url = demo_checkout(rt, tenant, base_url=base)
    kassa = current_app._get_current_object()  # type: ignore[attr-defined]
    shop = make_shop(kassa, kassa_base=base, shop_origin=shop_origin, secret=secret, publishable=publishable)
    stop = threading.Event()
    threads = [run_worker_thread(rt, stop), run_cron_thread(rt, stop)]
    server = make_dev_server(host, port, kassa, threaded=True)
    shop_server = make_dev_server(host, shop_port, shop, threaded=True)
    shop_thread = threading.Thread(target=shop_server.serve_forever, name="kassa-demo-shop", daemon=True)
    shop_thread.start()
    click.echo(
        "\n".join(
            (
                "",
                "Kassa demo is running (SQLite + in-process Redis + worker thread). Ctrl-C stops it.",
                "",
                f"  Portal:        {base}/portal/login",
                f"    Email:       {DEMO_EMAIL}",
                f"    Password:    {DEMO_PASSWORD}",
                f"    Authentication code: TOTP of secret {DEMO_TOTP_SECRET}",
                f"      (add it to an authenticator app, or run: {totp_command()}; "
                f"now: {pyotp.TOTP(DEMO_TOTP_SECRET).now()})",
                f"  API:           {base}/api/v1   (Authorization: Bearer {secret})",
                f"  Publishable:   {publishable}",
                f"  Checkout:      {checkout_url}   (test card 4242 4242 4242 4242)",
                f"  Demo shop:     {shop_origin}/   (a merchant page on another origin, with the widget)",
                f"  Receipt mail:  {rt.mailer().describe()}   (KASSA_MAIL_URL)",
                f"  Health:        {base}/healthz",
                f"  Tenant:        {tenant.name} ({tenant.id})",
                "",
            )
        )
    )
    try:
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches the KeyboardInterrupt)
    finally:
        click.echo("\nStopping …")
        stop.set()
        shop_server.shutdown()
        shop_server.server_close()
        server.server_close()
        for thread in threads:
            thread.join(timeout=5)
        rt.db.dispose()
