"""`kassa demo` (what `make demo` runs) serves a healthy app and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_serves_healthz_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, shop_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DATABASE_APP_URL")}
    kassa = Path(sys.executable).with_name("kassa")
    process = subprocess.Popen(
        [str(kassa), "demo", "--port", str(port), "--shop-port", str(shop_port)],
        cwd=tmp_path,  # the demo's SQLite database goes to ./instance/
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    status = response.status
                    break
            except OSError:
                time.sleep(0.25)
        assert status == 200, "the demo did not answer /healthz within 120 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/portal/login", timeout=5) as response:
            assert b"Sign in" in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{shop_port}/", timeout=10) as response:
            shop = response.read().decode()
        assert f'src="http://127.0.0.1:{port}/static/widget/v1/kassa.js"' in shop and "cs_" in shop
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Email:       owner@demo.kassa.test" in output and "/portal/login" in output
    assert f"Demo shop:     http://127.0.0.1:{shop_port}/" in output
    assert "Stopping" in output and "Traceback" not in output
    assert "/pay/cs_" in output  # a hosted checkout URL to try at once
    assert (tmp_path / "instance" / "kassa.sqlite3").exists()
