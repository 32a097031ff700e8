"""The mailer interface, its two errors, and masking addresses for logs."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Protocol

_ADDRESS = re.compile(r"[^@\s<>\"'(),;:]+@[^@\s<>\"'(),;:]+")


class MailUnavailable(Exception):
    """The mail server could not be reached or asked us to come back later (timeout, refused connection,
    4xx reply): the same message may succeed on a later try."""


class MailRejected(Exception):
    """The mail server refused the message for good (5xx reply): trying again sends nothing."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand `message` over for delivery; raise MailUnavailable or MailRejected when that failed."""

    def describe(self) -> str:
        """Where mail goes, for a start-up banner or log line: never a password."""


def mask_email(address: str) -> str:
    """`ada.lovelace@example.com` -> `a***@example.com`: enough to tell addresses apart in a log, not to
    know whom they belong to."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_emails_in(text: str) -> str:
    """Mask every address in free text, such as an SMTP server's error reply."""
    return _ADDRESS.sub(lambda match: mask_email(match.group(0)), text)
