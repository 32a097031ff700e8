"""Real logo images for the branding tests: PNGs made here, a JPEG and a WebP made by Chromium's encoders.

The server reads only headers (signature and pixel size), but the e2e check decodes them in a browser, so
these are whole, valid images rather than headers alone.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib


def png(
    width: int = 24, height: int = 12, *, noise: bool = False, rgb: tuple[int, int, int] = (11, 87, 208)
) -> bytes:
    """A valid truecolour PNG: one colour, or random pixels (which do not compress: a large file)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = bytes(rgb) * width
    rows = b"".join(b"\x00" + (os.urandom(3 * width) if noise else row) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


#: 24x12 pixels, from canvas.toDataURL("image/jpeg") in Chromium.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABh"
    "Y3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAAB"
    "UAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAA"
    "AAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9Y"
    "WVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAM"
    "ZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEY"
    "Ix8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7"
    "Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAMABgDASIAAhEBAxEB/8QAGAAAAwEBAAAAAAAAAAAAAAAAAAQG"
    "AgX/xAAoEAACAQMACAcAAAAAAAAAAAABAwIABAUREhUhMUFxgRZTVZKT0dL/xAAVAQEBAAAAAAAAAAAAAAAAAAAFBP/EACIRAAEE"
    "AQMFAQAAAAAAAAAAAAECAwQRAAUSIRNRYYGRsf/aAAwDAQACEQMRAD8A42DsFZPMIs3SnFbNbSYEA7ok8+lV/gTF+fd++P5qES5t"
    "u0NS2amR4ThIgjuKZ2xlPUrv55fdMarp+pyXwuJI6aaqvNnn8+YTFfjNoIdb3G83nLBWMzD7NMpyWvV0GZBO+IPLrRSbnNuGlrmz"
    "ayXGc5Ek9zRTcZDjbCEOK3KAAJ7muT7yJwpUslIoXn//2Q=="
)
#: 24x12 pixels, from canvas.toDataURL("image/webp") in Chromium (a VP8X file with an ICC profile).
WEBP = base64.b64decode(
    "UklGRr4CAABXRUJQVlA4WAoAAAAgAAAAFwAACwAASUNDUMgBAAAAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABh"
    "Y3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAAB"
    "UAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAA"
    "AAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9Y"
    "WVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAM"
    "ZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADZWUDgg0AAAADAHAJ0BKhgADAA+bRyZSaQhIyGYAIAN"
    "iWwAnTKEcDeQfiT+GfIA+AGCgev/zlfAAfrN1oX7XejuFCvU04kotzY+gAD++RhTvdd4HSrR/5offdR7CGJlZ3bKSU75fgTJP/pY"
    "f+DWTxGR04sI0fgS/1GnQyYco3jCGwjILdQJ8j6d1/c3//Nx9l0+MyTfg9bf38oO0zkqSZx9bEnhCLM/yhPLRSzWN6RdkK7b6Q9e"
    "eX/q3GP1vHGbP/541CI9P/mSE0d96RWbf8pxC1vAkHt0gAA="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def data_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
