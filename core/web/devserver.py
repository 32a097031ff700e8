"""Werkzeug's development server, minus its leak: what `make demo` and the test suites serve with.

When a client drops the connection (a browser leaving a page while its images load), werkzeug 3.1's
`run_wsgi` reads the rest of the socket before closing the response, the read raises, and the response's
iterable is never closed: a static file's handle stays open until the garbage collector finds it (a
`ResourceWarning`, an error under the suite's warning filter). Here the app's iterable is remembered in
the request's environ and closed when the server reports the dropped connection, at most once: a drop
reported after werkzeug's own close must not close it again (werkzeug's `ClosingIterator`, which Flask
answers with, runs its callbacks on every call)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_ITERABLE = "kassa.devserver.iterable"


class _ClosingOnce:
    """The app's response iterable, closed at most once."""

    def __init__(self, iterable: Iterable[bytes]) -> None:
        self._iterable = iterable
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._iterable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()


class _Handler(WSGIRequestHandler):
    def connection_dropped(self, error: BaseException, environ: WSGIEnvironment | None = None) -> None:
        iterable = (environ or {}).get(_ITERABLE)
        if iterable is not None:
            iterable.close()


def _remembering(app: WSGIApplication) -> WSGIApplication:
    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        iterable = _ClosingOnce(app(environ, start_response))
        environ[_ITERABLE] = iterable
        return iterable

    return serve


def make_dev_server(host: str, port: int, app: WSGIApplication, **options: Any) -> BaseWSGIServer:
    """`werkzeug.serving.make_server(host, port, app, **options)` whose dropped connections close their
    responses."""
    return make_server(host, port, _remembering(app), request_handler=_Handler, **options)
