"""A tenant's checkout logo: checked, stored in `tenant_logos`, and served by Kassa itself.

Merchants send the image as a data URL in `PATCH /api/v1/checkout/settings`. Kassa never loads a logo
from a URL the merchant names: a payment page may load nothing from another origin (PCI DSS 6.4.3; the
checkout's CSP is `img-src 'self'`), and an image Kassa serves cannot change after it was checked.

What is accepted is decided by the bytes, not by the declared type: PNG, JPEG or WebP, recognized by
their signatures and with a readable pixel size in their header. SVG is refused whatever it is called:
it is a document that can carry script. The declared type must agree with the bytes, so a mistake (or a
polyglot) is caught at upload rather than shown broken to shoppers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from core.clock import Clock
from core.errors import InvalidInput
from core.ids import new_id
from tenants.models import TenantLogo

PARAM: Final = "logo"
#: At most this many bytes once decoded (100 KB): a logo, not a photo, and it loads on every page.
MAX_BYTES: Final = 100 * 1024
#: At most this many pixels on either side: a small file can still decode to a huge bitmap.
MAX_SIDE: Final = 4096
TYPES: Final = ("image/png", "image/jpeg", "image/webp")
#: Declared types taken as their canonical name (image/jpg is a common misspelling).
_ALIASES: Final = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_DATA_URL: Final = re.compile(
    r"data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL | re.IGNORECASE
)
_BASE64_SPACE: Final = re.compile(r"[ \t\r\n]+")
#: JPEG start-of-frame markers: the frame header that holds the pixel size.
_JPEG_SOF: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class Image:
    """A checked logo, ready to store."""

    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def summary(self) -> dict[str, Any]:
        return {"content_type": self.content_type, "bytes": len(self.data), "sha256": self.sha256}


@dataclass(frozen=True)
class LogoInfo:
    """What a page needs to show the stored logo (not its bytes)."""

    content_type: str
    size: int
    sha256: str
    width: int
    height: int

    def summary(self) -> dict[str, Any]:
        """The settings object's `logo`: never the data itself."""
        return {"content_type": self.content_type, "bytes": self.size, "sha256": self.sha256}

    @classmethod
    def of(cls, image: Image) -> LogoInfo:
        return cls(image.content_type, len(image.data), image.sha256, image.width, image.height)

    def settings_entry(self) -> dict[str, Any]:
        """What the tenant's checkout settings keep of the logo (see `info`)."""
        return {**self.summary(), "width": self.width, "height": self.height}

    @property
    def version(self) -> str:
        """A short form of the hash for the logo's URL: a new logo gets a new URL, so caches never serve
        a replaced logo."""
        return self.sha256[:16]


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, param=PARAM)


def _is_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head


def sniff(data: bytes) -> str | None:
    """The image type the bytes are, by their signature; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_SOF:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        if marker in (0xD9, 0xDA) or length < 2:  # end of image, or scan data before any frame header
            return None
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_SIZE_OF = {"image/png": _png_size, "image/jpeg": _jpeg_size, "image/webp": _webp_size}


def parse(value: object) -> Image:
    """A logo as the API receives it, `data:image/png;base64,…`, checked; InvalidInput naming `logo`."""
    if not isinstance(value, str):
        raise _refuse("logo must be a data URL like data:image/png;base64,iVBORw0..., or null.")
    match = _DATA_URL.fullmatch(value.strip())
    if match is None:
        raise _refuse(
            "logo must be a data URL like data:image/png;base64,iVBORw0... (PNG, JPEG or WebP); "
            "links to images elsewhere are not accepted."
        )
    declared = match["type"].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if declared == "image/svg+xml":
        raise _refuse("SVG logos are not accepted (an SVG can carry script): send a PNG, JPEG or WebP.")
    if declared not in TYPES:
        raise _refuse(f"logo must be a PNG, JPEG or WebP image; {declared or 'no type'!r} was declared.")
    if [p.strip().lower() for p in match["params"].split(";")[1:]] != ["base64"]:
        raise _refuse("logo must be base64-encoded: data:image/png;base64,...")
    encoded = _BASE64_SPACE.sub("", match["data"])
    # Refused before decoding: 4 characters of base64 carry 3 bytes.
    if len(encoded) > (MAX_BYTES + 2) // 3 * 4:
        raise _refuse(f"logo is too large: at most {MAX_BYTES // 1024} KB ({MAX_BYTES} bytes) decoded.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("logo is not valid base64 (A-Z, a-z, 0-9, + and /, padded with =).") from None
    if not data:
        raise _refuse("logo is empty.")
    if len(data) > MAX_BYTES:
        raise _refuse(f"logo is too large: at most {MAX_BYTES // 1024} KB ({MAX_BYTES} bytes) decoded.")
    actual = sniff(data)
    if actual is None:
        if _is_svg(data):
            raise _refuse("SVG logos are not accepted (an SVG can carry script): send a PNG, JPEG or WebP.")
        raise _refuse(f"logo is declared {declared} but its bytes are not a PNG, JPEG or WebP image.")
    if actual != declared:
        raise _refuse(f"logo is declared {declared} but its bytes are {actual}: declare what you send.")
    size = _SIZE_OF[actual](data)
    if size is None or min(size) < 1:
        raise _refuse(f"logo is not a readable {actual} image (its header has no pixel size).")
    width, height = size
    if max(width, height) > MAX_SIDE:
        raise _refuse(f"logo is {width}x{height} pixels: at most {MAX_SIDE} on either side.")
    return Image(content_type=actual, data=data, width=width, height=height)


def _row(session: Session, tenant_id: str, *, livemode: bool, with_data: bool) -> TenantLogo | None:
    query = select(TenantLogo).where(TenantLogo.tenant_id == tenant_id, TenantLogo.livemode == livemode)
    if not with_data:
        query = query.options(defer(TenantLogo.data))
    return session.scalar(query)


def info(checkout_settings: dict[str, Any] | None) -> LogoInfo | None:
    """The tenant's logo without its bytes (what a page needs to link it), or None.

    Read from the tenant's checkout settings, where `replace`'s caller keeps a copy of the row's
    metadata in the same transaction: every checkout page shows the logo, and the tenant row is loaded
    anyway, so the page costs no query of `tenant_logos` (only serving the image does).
    """
    entry = (checkout_settings or {}).get("logo")
    if not entry:
        return None
    return LogoInfo(entry["content_type"], entry["bytes"], entry["sha256"], entry["width"], entry["height"])


def load(session: Session, *, tenant_id: str, livemode: bool) -> tuple[LogoInfo, bytes] | None:
    """The tenant's logo in this mode and its bytes, to serve; None when it has none."""
    row = _row(session, tenant_id, livemode=livemode, with_data=True)
    if row is None:
        return None
    return LogoInfo(row.content_type, row.size, row.sha256, row.width, row.height), bytes(row.data)


def replace(session: Session, *, tenant_id: str, livemode: bool, image: Image | None, clock: Clock) -> None:
    """Make `image` the tenant's logo in this mode, or remove it (None). Flushes; the caller audits and
    commits."""
    row = _row(session, tenant_id, livemode=livemode, with_data=False)
    if image is None:
        if row is not None:
            session.delete(row)
        session.flush()
        return
    if row is None:
        row = TenantLogo(tenant_id=tenant_id, id=new_id("logo"), livemode=livemode)
        session.add(row)
    row.content_type = image.content_type
    row.data = image.data
    row.size = len(image.data)
    row.sha256 = image.sha256
    row.width = image.width
    row.height = image.height
    row.created_at = clock.now()
    session.flush()
