"""A newcomer runs `kassa demo` (what `make demo` runs) and signs in to the portal with exactly what its
banner prints: the email, the password, and a code from the printed TOTP seed (or the printed command)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import _free_port

pytestmark = pytest.mark.browser

BANNER_FIELD = re.compile(r"^\s+(Portal|Email|Password):\s+(\S+)\s*$")
SEED = re.compile(r"Authentication code: TOTP of secret ([A-Z2-7]+)\s*$")
COMMAND = re.compile(r"or run: (.+); now: \d{6}\)\s*$")


@dataclass
class Demo:
    process: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread

    def banner(self, timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(line.lstrip().startswith("Tenant:") for line in self.lines):
                break
            time.sleep(0.2)
        found: dict[str, str] = {}
        for line in list(self.lines):
            if match := BANNER_FIELD.match(line):
                found.setdefault(match.group(1), match.group(2))
            if match := SEED.search(line):
                found["seed"] = match.group(1)
            if match := COMMAND.search(line):
                found["command"] = match.group(1)
        assert {"Portal", "Email", "Password", "seed", "command"} <= set(found), "".join(self.lines)
        return found


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port, shop_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DATABASE_APP_URL")}
    kassa = Path(sys.executable).with_name("kassa")
    process = subprocess.Popen(
        [str(kassa), "demo", "--port", str(port), "--shop-port", str(shop_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield Demo(process, lines, reader)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def test_the_banners_sign_in_opens_the_portal(demo: Demo, browser: Browser) -> None:
    banner = demo.banner()
    # The printed command works from any shell, outside the project's .venv: no PYTHONPATH, a bare PATH.
    printed = subprocess.run(
        ["/bin/sh", "-c", banner["command"]],
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert printed.returncode == 0 and re.fullmatch(r"\d{6}\n", printed.stdout), printed

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(banner["Portal"])
        page.get_by_label("Email").fill(banner["Email"])
        page.get_by_label("Password").fill(banner["Password"])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/portal/login/code$"))
        page.get_by_label("Authentication code").fill(pyotp.TOTP(banner["seed"]).now())
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("heading", name="Demo Shop")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    finally:
        context.close()

    demo.process.send_signal(signal.SIGINT)
    demo.process.wait(timeout=20)
    demo.reader.join(timeout=5)  # the last lines are read
    output = "".join(demo.lines)
    assert "SetuptoolsDeprecationWarning" not in output
    # Every log line is plain JSON: no terminal colour codes, even for the dev server's request lines.
    assert "\x1b" not in output and "\\u001b" not in output
    logged = [json.loads(line) for line in demo.lines if line.startswith("{")]
    assert any(entry.get("name") == "werkzeug" for entry in logged)
