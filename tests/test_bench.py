"""`make bench`'s own parts: reading wrk's report, and the wrk scripts it writes (a script wrk cannot load
makes it send `GET /` instead, which would be measured as if it were the figure)."""

from __future__ import annotations

import http.server
import shutil
import threading
from pathlib import Path

import pytest

from bench import payments, suite

WRK_REPORT = """Running 3s test @ http://127.0.0.1:40001/hello
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.21ms    2.10ms  40.00ms   90.00%
    Req/Sec   780.00     50.00   900.00     70.00%
  Latency Distribution
     50%    9.80ms
     75%   11.00ms
     90%   12.50ms
     99%    1.20s
  4680 requests in 3.00s, 700.00KB read
  Socket errors: connect 0, read 4680, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   1560.00
Transfer/sec:    233.33KB
"""


def test_wrk_report_is_read_with_its_units_and_errors() -> None:
    result = suite.parse_wrk(WRK_REPORT)
    assert result.requests == 4680
    assert result.seconds == pytest.approx(3.0)
    assert result.rate == pytest.approx(1560.0)
    assert result.p50_ms == pytest.approx(9.8)
    assert result.p99_ms == pytest.approx(1200.0)
    # 3 answers that were not 2xx/3xx and 2 timeouts; read errors are sync workers closing connections.
    assert result.errors == 5


def test_an_unreadable_wrk_report_fails_the_run() -> None:
    with pytest.raises(payments.BenchFailed, match="could not read"):
        suite.parse_wrk("wrk: something went wrong")


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *_args: object) -> None:
        pass


class _RecordingServer(http.server.ThreadingHTTPServer):
    # Handler threads are joined on close, so every request wrk sent is recorded before we look.
    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []


def _record(script: Path) -> list[tuple[str, str, dict[str, str], bytes]]:
    """Everything wrk sends with `script` for a second, to a recorder of its own."""
    server = _RecordingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = suite.run_wrk(url, seconds=1, connections=2, script=script)
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    return server.seen


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_the_wrk_scripts_load_and_send_what_they_should(tmp_path: Path) -> None:
    lines = tmp_path / "confirm.txt"
    lines.write_text("/pay/cs_a\tcsrf_token=1.a&number=4242\n/pay/cs_b\tcsrf_token=2.b&number=4242\n")
    scripts = {
        "insert": suite.insert_script("run1"),
        "create": suite.session_create_script("run1", "sk_test_abc"),
        "confirm": suite.confirm_script(lines),
    }
    seen = {}
    for name, source in scripts.items():
        script = tmp_path / f"{name}.lua"
        script.write_text(source)
        seen[name] = _record(script)
        assert seen[name], name
        assert all(method == "POST" for method, *_ in seen[name]), name
    assert {path for _m, path, _h, _b in seen["insert"]} == {"/insert"}
    create_keys = set()
    for _method, path, headers, _body in seen["create"]:
        assert path == "/api/v1/checkout/sessions"
        assert headers["Authorization"] == "Bearer sk_test_abc"
        create_keys.add(headers["Idempotency-Key"])
    assert len(create_keys) == len(seen["create"]), "every session create carries a key of its own"
    assert {path for _m, path, _h, _b in seen["confirm"]} == {"/pay/cs_a", "/pay/cs_b"}
    assert all(h["X-Forwarded-For"].startswith("198.18.") for _m, _p, h, _b in seen["confirm"])
