"""Sending email: one small `Mailer` interface, an SMTP client for production and a directory of .eml files
for development. `from_url(settings.mail_url)` picks one; jobs reach it through `Runtime.mailer()`."""

from __future__ import annotations

from core.mail.base import Mailer, MailRejected, MailUnavailable, mask_email, mask_emails_in
from core.mail.files import FileMailer
from core.mail.smtp import SmtpMailer

__all__ = [
    "FileMailer",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "SmtpMailer",
    "from_url",
    "mask_email",
    "mask_emails_in",
]


def from_url(url: str, *, timeout: float = 10.0) -> Mailer:
    """The mailer `url` names: smtp://, smtps:// or file:<directory> (Settings.validate checked the
    scheme)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "file":
        return FileMailer.from_url(url)
    if scheme in ("smtp", "smtps"):
        return SmtpMailer.from_url(url, timeout=timeout)
    raise ValueError(f"no mailer for {scheme}: URLs; use smtp://, smtps:// or file:")
