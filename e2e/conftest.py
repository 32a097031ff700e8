"""Real Chromium (Debian's, through Playwright) against a live Kassa served on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright

from core.jobs.runtime import Runtime
from core.jobs.worker import run_cron_thread, run_worker_thread
from core.web.devserver import make_dev_server
from tests.fixtures import skip_or_fail

CHROMIUM = os.environ.get("KASSA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    port = _free_port()
    server = make_dev_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kassa-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def background_worker(rt: Runtime) -> Iterator[None]:
    """The embedded worker and cron threads (as in `make demo`), so payments complete behind the page."""
    stop = threading.Event()
    threads = [run_worker_thread(rt, stop, poll=0.05), run_cron_thread(rt, stop)]
    yield
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        skip_or_fail(f"needs Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(
    browser: Browser, live_server: str, clean: Runtime, request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server)
    errors: list[str] = []
    # Chromium logs any 4xx page as a console error; a test of such a page says so with a marker.
    expected = (
        "the server responded with a status of 4"
        if request.node.get_closest_marker("error_status_expected")
        else None
    )
    tab = context.new_page()
    # A CSP violation or script error on any page fails the test that caused it.
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    errors = [error for error in errors if not (expected and expected in error)]
    assert not errors, f"browser console errors: {errors}"
