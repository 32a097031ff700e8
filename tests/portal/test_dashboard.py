"""The home dashboard: today's and the week's figures of the session's mode, with a table beside each
sparkline, and the keys of that mode only."""

from __future__ import annotations

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from core.workspace.dashboard import dashboard, sparkline
from tests.fixtures import Factories
from tests.portal.test_portal_mode import switch
from tests.portal.test_sign_in import sign_in


def test_the_home_page_shows_the_modes_figures(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=2000)
    make.payments(tenant=tenant, amount=3000, customer_email="ann@example.com")
    make.payments(tenant=tenant, amount=999, failed=True)
    make.refunds(tenant=tenant, amount=500)  # a third succeeded payment of 25.00, 5.00 of it refunded
    make.payments(tenant=tenant, amount=4200, authorized=True)
    make.payments(tenant=tenant, session=make.sessions(tenant=tenant, livemode=True), pending=True)

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        figures = dashboard(uow.session, livemode=False, now=clean.clock.now())
    [eur] = figures.currencies
    assert eur.volume_today == 7500 and eur.count_today == 3 and sum(eur.refunded) == 500
    assert figures.approval[-1] == 0.75 and figures.to_capture == 1 and len(figures.days) == 7
    assert len(figures.recent) == 5

    sign_in(client, tenant)
    home = client.get("/portal/").get_data(as_text=True)
    assert "€75.00" in home and "75 %" in home and "€5.00 refunded" in home
    assert "<polyline" in home and "The figures per day" in home and "ann@example.com" in home
    assert tenant.keys.publishable_key in home  # test keys in test mode
    switch(client, "live", "/portal/")
    live = client.get("/portal/").get_data(as_text=True)
    assert "€75.00" not in live and "No live payment succeeded or failed in the last 7 days" in live
    assert tenant.keys.publishable_key not in live and "No active live keys." in live


def test_a_sparkline_fits_its_box() -> None:
    points = sparkline([0, 5, 10], width=120, height=32)
    assert points == "0.0,30.0 60.0,16.0 120.0,2.0"
    assert sparkline([None, None]) == "0.0,30.0 120.0,30.0"
