"""Production mail: the standard library's SMTP client, with TLS whenever the server can do it."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from core.mail.base import MailRejected, MailUnavailable, mask_emails_in

SMTP_PORT = 25
SMTPS_PORT = 465


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    #: smtps://: TLS from the first byte. smtp://: STARTTLS when the server offers it.
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Seconds for connecting and for each reply: a hung server must not hold a worker (and the
    #: receipt's row lock) for long.
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 10.0) -> SmtpMailer:
        parts = urlsplit(url)
        implicit_tls = parts.scheme.lower() == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (SMTPS_PORT if implicit_tls else SMTP_PORT),
            implicit_tls=implicit_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def describe(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    def send(self, message: EmailMessage) -> None:
        # SMTPException is an OSError: the specific replies are told apart before the catch-all.
        try:
            with self._connect() as client:
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = MailUnavailable if all(400 <= code < 500 for code in codes) else MailRejected
            raise error(f"recipient refused ({', '.join(map(str, codes))})") from None
        except smtplib.SMTPResponseException as exc:
            error = MailUnavailable if 400 <= exc.smtp_code < 500 else MailRejected
            reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
            raise error(f"{exc.smtp_code} {mask_emails_in(reply)}".strip()[:300]) from None
        except OSError as exc:  # refused, reset, timed out, disconnected (SMTPServerDisconnected too)
            raise MailUnavailable(f"{self.describe()} unreachable: {type(exc).__name__}") from None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not self.implicit_tls and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if self.username:
                if not (self.implicit_tls or isinstance(client.sock, ssl.SSLSocket)):
                    raise MailUnavailable(
                        f"{self.describe()} offers no STARTTLS: not sending the password in the clear"
                    )
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client
