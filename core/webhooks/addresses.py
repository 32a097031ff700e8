"""SSRF protection for webhook endpoints: which URLs are allowed, and the one address a delivery connects to.

A URL is checked when the endpoint is created or changed, and again at every delivery: its host is resolved
once, every address it resolves to must be public, and the delivery connects to the checked address itself
(core/webhooks/http.py), so a name that answers a public address to the check and a private one to the
connection (DNS rebinding) gets nowhere. Loopback, private, link-local (cloud metadata at 169.254.169.254),
shared, reserved, multicast, IPv6 local and IPv4-mapped forms are refused, and so is a host written as a
bare number (`2130706433`, `0x7f.1`, `127.1`): the C resolver reads those as IPv4 addresses.

`allow_private` (KASSA_WEBHOOKS_ALLOW_PRIVATE=1, development and tests only) lifts the address check, never
the scheme rule.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Answers the addresses of a host name (and port): the system resolver, or a stub in tests.
Resolver = Callable[[str, int], Sequence[str]]
MAX_URL_LENGTH: Final = 2048
#: Names that are private whatever the DNS says.
_LOCAL_NAMES: Final = re.compile(r"(^|\.)(localhost|local|internal|localdomain|home\.arpa)$")
#: A host the C resolver would read as a number (decimal, octal, hex, or a short dotted form).
_NUMERIC_HOST: Final = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class UnsafeWebhookURL(InvalidInput):
    code = "url_not_allowed"


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to ask for (host name, port, path)."""

    scheme: str
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address.teredo is not None:
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_private
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_reserved
        and not address.is_unspecified
    )


def _literal(host: str) -> IPAddress | None:
    """The address a host is written as, or None for a name. Numeric forms are read as the resolver would."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise UnsafeWebhookURL(f"The host {host!r} is not a valid address.", param="url") from None
    return None


def parse(url: str, *, livemode: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a well-formed endpoint URL; https only, http in test mode."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookURL(
            f"url must be an https URL of at most {MAX_URL_LENGTH} characters.", param="url"
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeWebhookURL("url must not contain spaces or control characters.", param="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookURL("url is not a valid URL.", param="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeWebhookURL("url must start with https://.", param="url")
    if scheme == "http" and livemode:
        raise UnsafeWebhookURL("A live-mode endpoint must use https:// (http is for test mode).", param="url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookURL("url must not carry a user name or password.", param="url")
    if parts.fragment:
        raise UnsafeWebhookURL("url must not have a #fragment.", param="url")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeWebhookURL("url has no host.", param="url")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port or (443 if scheme == "https" else 80), path


def check(url: str, *, livemode: bool, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Check `url` and resolve it to the address a delivery may connect to; `UnsafeWebhookURL` otherwise.

    Every address the name resolves to must be public (one private answer among public ones is refused:
    a resolver may hand either to the connection)."""
    scheme, host, port, path = parse(url, livemode=livemode)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if not allow_private and _LOCAL_NAMES.search(host):
            raise UnsafeWebhookURL(f"The host {host!r} is a local name.", param="url")
        answers = resolver(host, port)
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise UnsafeWebhookURL(f"The host {host!r} does not resolve.", param="url")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeWebhookURL(
                    f"The host {host!r} points at a private, loopback or reserved address: webhook endpoints "
                    "must be reachable on the public internet.",
                    param="url",
                )
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))
