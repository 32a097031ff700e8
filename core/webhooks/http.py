"""One webhook POST, connected to the address the SSRF check approved (never resolved again).

No redirect is followed (a 3xx is a failed delivery: a redirect could point anywhere), the answer's body
is read up to `MAX_RESPONSE_BYTES` and the whole exchange is bounded by the timeout.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Final

from core.webhooks.addresses import Target

#: Bytes of an answer's body that are read (and the first of them kept as the log's excerpt).
MAX_RESPONSE_BYTES: Final = 4096
USER_AGENT: Final = "Kassa-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    #: The HTTP status, or None when no answer came (connection refused, timeout, TLS error).
    status: int | None
    body: bytes
    error: str | None
    latency_ms: int


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the host name, while the socket goes to the pinned address.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post(
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Answer:
    started = time.monotonic()
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout, context or ssl.create_default_context())
    else:
        connection = _PinnedHTTPConnection(target, timeout)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal
        host_header = f"[{target.host}]" if target.port in (80, 443) else f"[{target.host}]:{target.port}"
    try:
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host_header)
        connection.putheader("User-Agent", USER_AGENT)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        remaining = max(0.1, timeout - (time.monotonic() - started))
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        data = response.read(MAX_RESPONSE_BYTES)
        return Answer(response.status, data, None, _ms(started))
    except TimeoutError:
        return Answer(None, b"", f"timed out after {timeout:g} s", _ms(started))
    except ssl.SSLError as exc:
        return Answer(None, b"", f"TLS error: {exc.reason or type(exc).__name__}"[:200], _ms(started))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, b"", f"{type(exc).__name__}: {exc}"[:200], _ms(started))
    finally:
        connection.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
