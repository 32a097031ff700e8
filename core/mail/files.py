"""Development mail: each message is written to a directory as an .eml file that any mail client opens."""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.mail.base import MailUnavailable

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class FileMailer:
    directory: Path

    @classmethod
    def from_url(cls, url: str) -> FileMailer:
        """`file:///var/mail/kassa` (absolute) or `file:instance/mail` (relative to the working directory)."""
        return cls(Path(unquote(urlsplit(url).path)))

    def describe(self) -> str:
        return f"files in {self.directory.resolve()}"

    def send(self, message: EmailMessage) -> None:
        stem = _UNSAFE.sub("_", str(message["Message-ID"] or "message")).strip("_")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written aside, then renamed: a reader watching the directory never sees half a message.
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            os.replace(temporary, self.directory / f"{time.time_ns()}-{stem}.eml")
        except OSError as exc:
            raise MailUnavailable(f"cannot write to the mail directory: {type(exc).__name__}") from exc
