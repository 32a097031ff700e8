"""`kassa checkout`: checks of the hosted payment pages."""

from __future__ import annotations

import sys

import click

from cli.common import fail


@click.group("checkout", help="The hosted payment pages.")
def checkout_group() -> None:
    pass


@checkout_group.command(
    "verify-scripts",
    help="Fetch a live payment page (e.g. https://pay.example.com/pay/cs_…) and compare every script it "
    "loads with checkout/script_inventory.json (unknown, missing or changed scripts, inline scripts, "
    "scripts without the page's CSP nonce), and check its security headers (CSP with a nonce, "
    "object-src 'none', base-uri 'none', frame-ancestors; HSTS; nosniff; Referrer-Policy). Exits 0 when "
    "everything matches, 1 when anything differs: run it on a schedule as a tamper check (PCI DSS "
    "11.6.1), e.g. from cron every 15 minutes with a long-lived session's page, alerting on a non-zero "
    "exit:\n\n\b\n  */15 * * * * kassa checkout verify-scripts https://pay.example.com/pay/cs_… "
    "|| alert-oncall",
)
@click.argument("url")
@click.option(
    "--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 120), help="Seconds per request."
)
def checkout_verify_scripts(url: str, timeout: float) -> None:
    from checkout import inventory
    from checkout.script_check import check_page

    try:
        listed = inventory.load()
    except inventory.InventoryError as exc:
        fail(str(exc))
        return
    report = check_page(url, listed, timeout=timeout)
    click.echo(f"Page {url} (HTTP {report.status or '—'})")
    click.echo(f"Inventory {inventory.INVENTORY_PATH.name}: {len(listed.scripts)} script(s)")
    for finding in report.findings:
        mark = "DIFFERS" if finding.problem else "ok"
        detail = finding.detail if finding.problem else finding.detail.removeprefix("ok").strip()
        click.echo(f"  {mark:<8}{finding.kind:<9}{finding.subject}" + (f"  {detail}" if detail else ""))
    if report.clean:
        click.echo("Clean: the page loads exactly its inventoried scripts and sends every security header.")
        return
    click.echo(
        f"{len(report.problems)} difference(s) from the inventory. If nobody changed these scripts on "
        "purpose (with their inventory entry), treat the page as tampered with.",
        err=True,
    )
    sys.exit(1)
