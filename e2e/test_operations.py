"""The operator view in real Chromium at 1280 and 390 px: a failed job, a worker, a recent error; axe-core
finds no serious or critical violation, nothing is wider than the window, and the Retry button puts the job
back on its queue.

With KASSA_WRITE_SCREENS=1 the walk also refreshes docs/screens/operations-*.png (look at each one after
changing how the page looks)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from rq import Worker
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus as WorkerState

from core.jobs.runtime import Runtime
from e2e.portal_helpers import sign_in
from e2e.test_accessibility import AXE, assert_accessible
from tests.fixtures import Factories
from tests.payments_helpers import auth, work
from tests.portal.test_operations_page import FIXED, FLAKY, ran

pytestmark = pytest.mark.browser

SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
WIDTHS = {1280: 800, 390: 844}
WRITE = os.environ.get("KASSA_WRITE_SCREENS") == "1"
#: The elements whose right edge is past the window's (a scroll box's content included), for the message.
WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8)
  .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""


@pytest.fixture
def audited(browser: Browser, live_server: str, clean: Runtime) -> Iterator[Page]:
    # axe-core is injected without Kassa's nonce: this context alone bypasses the CSP (as
    # e2e/test_portal_screens.py does).
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"browser errors: {errors}"


def test_the_operations_page_fits_reads_well_and_retries_a_failed_job(
    audited: Page, make: Factories, clean: Runtime, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed ({AXE} is missing): run `make install`.")
    page = audited
    tenant = make.tenants(name="Kassa Operations")
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )

    job = clean.queue("webhooks").enqueue(FLAKY, note="after the outage")
    deadline = time.monotonic() + 10
    while job.id not in FailedJobRegistry(queue=clean.queue("webhooks")).get_job_ids():
        assert time.monotonic() < deadline, "the job did not fail"
        work(clean)
        time.sleep(0.05)
    worker = Worker([clean.queue(n) for n in ("payments", "default")], connection=clean.redis,
                    serializer=JSONSerializer, name="worker-web-1")  # fmt: skip
    worker.register_birth()
    worker.set_state(WorkerState.IDLE)
    worker.heartbeat()

    from core.reports import queries

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("rollup query timed out")

    with monkeypatch.context() as patched:  # one unexpected error in the live server, for "Recent errors"
        patched.setattr(queries, "summary", broken)
        failed = requests.get(
            f"{live_server}/api/v1/reports/summary", headers=auth(tenant.keys.secret_key), timeout=10
        )
    assert failed.status_code == 500

    try:
        sign_in(page, tenant, "/portal/operations")
        expect(page.get_by_role("heading", name="Operations status")).to_be_visible()
        expect(page.get_by_role("heading", name="Recent errors")).to_be_visible()
        expect(page.get_by_text("RuntimeError: rollup query timed out")).to_be_visible()
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            assert_accessible(page, AXE.read_text(encoding="utf-8"), f"operations at {width} px")
            if WRITE:
                page.screenshot(
                    path=str(SCREENS / f"operations-{width}.png"), full_page=True, caret="initial"
                )
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            wide = page.evaluate(WIDER_THAN_THE_WINDOW)
            assert overflow <= 1, f"operations at {width} px is {overflow} px wider than the window: {wide}"
        page.set_viewport_size({"width": 1280, "height": 800})

        clean.redis.set(FIXED, "1")
        page.get_by_role("button", name=f"Retry job {job.id}").click()
        expect(page.get_by_text("1 failed job(s) put back on their queue.")).to_be_visible()
        deadline = time.monotonic() + 10
        while ran(clean) != ["after the outage"]:
            assert time.monotonic() < deadline, "the retried job did not run"
            work(clean)
            time.sleep(0.05)
    finally:
        worker.register_death()
