"""The development server (core/web/devserver.py: `make demo`'s and the browser tests' server) closes a
response whose client dropped the connection.

Werkzeug's own server leaves such a response open when its read of the dropped socket raises: a static
file's handle then stays open until the garbage collector reports it as a `ResourceWarning`. A browser
test saw it as an error in whichever test was running when the collector ran (a page left while its card
brand images loaded)."""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

from flask import Flask

from core.web.devserver import make_dev_server

STATIC = Path(__file__).resolve().parents[2] / "static"
IMAGE = "checkout/brands/unionpay.svg"


def _drop_connections(port: int, count: int) -> None:
    """Ask for an image `count` times, each time resetting the connection (RST) before reading the answer."""
    request = f"GET /static/{IMAGE} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(request)
            time.sleep(0.002)  # the server has the request and is answering it
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_dropped_connection_leaves_no_file_open() -> None:
    app = Flask(__name__, static_folder=str(STATIC))
    answered = 0
    inner = app.wsgi_app

    def counting(environ: dict[str, object], start_response: object) -> Iterable[bytes]:
        nonlocal answered
        answered += 1
        return inner(environ, start_response)  # type: ignore[arg-type]

    app.wsgi_app = counting  # type: ignore[method-assign,assignment]
    server = make_dev_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="devserver-under-test", daemon=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread.start()
        try:
            _drop_connections(server.server_port, 100)
            deadline = time.monotonic() + 10
            while answered < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # the last request threads finish
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        gc.collect()
    assert answered == 100, "every request reached the app (each opened the image)"
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not unclosed, f"{len(unclosed)} of 100 dropped connections left the file open: {unclosed[0]}"
