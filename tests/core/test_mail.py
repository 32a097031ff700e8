"""The mailers: SMTP against a real server in the test process, .eml files in a directory."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.mail import FileMailer, MailUnavailable, SmtpMailer, from_url, mask_email, mask_emails_in
from tests.smtp_server import SmtpServer, free_port


def a_message(to: str = "ada@example.com") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Your receipt from Tea & Cake"
    message["From"] = "Kassa <receipts@localhost>"
    message["To"] = to
    message["Message-ID"] = "<rcpt_01m80tbxmbc425chx8ezmjxt31@kassa>"
    message.set_content("Amount: €25.00")
    return message


def test_the_file_mailer_writes_each_message_as_an_eml_file(tmp_path: Path) -> None:
    mailer = from_url(f"file://{tmp_path}/outbox")
    assert isinstance(mailer, FileMailer)
    mailer.send(a_message())
    mailer.send(a_message("grace@example.com"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob(".*"))
    first = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert first["To"] == "ada@example.com" and first["Message-ID"] == a_message()["Message-ID"]
    assert "rcpt_01m80tbxmbc425chx8ezmjxt31" in files[0].name
    assert isinstance(first, EmailMessage) and "€25.00" in first.get_content()


def test_a_relative_file_url_is_a_directory_under_the_working_directory() -> None:
    mailer = from_url("file:instance/mail")
    assert isinstance(mailer, FileMailer) and mailer.directory == Path("instance/mail")


def test_an_unwritable_directory_is_a_transient_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(MailUnavailable):
        FileMailer(blocked / "mail").send(a_message())


def test_smtp_urls_give_host_port_tls_and_credentials() -> None:
    plain = from_url("smtp://user%40corp:p%3Ass@mail.example:2525")
    assert plain == SmtpMailer(
        host="mail.example", port=2525, implicit_tls=False, username="user@corp", password="p:ss"
    )
    assert "p:ss" not in repr(plain) and "p:ss" not in plain.describe()
    tls = from_url("smtps://mail.example")
    assert isinstance(tls, SmtpMailer) and (tls.port, tls.implicit_tls) == (465, True)
    assert from_url("smtp://mail.example") == SmtpMailer(host="mail.example", port=25)


def test_the_smtp_mailer_delivers_to_a_real_server(smtp_server: SmtpServer) -> None:
    from_url(smtp_server.url).send(a_message())
    [delivery] = smtp_server.inbox.wait_for(1)
    assert delivery.recipients == ["ada@example.com"]
    assert delivery.message["Subject"] == "Your receipt from Tea & Cake"


def test_a_server_that_does_not_answer_is_a_transient_error() -> None:
    with pytest.raises(MailUnavailable, match="unreachable"):
        SmtpMailer(host="127.0.0.1", port=free_port(), timeout=2).send(a_message())


def test_no_password_goes_over_a_connection_without_tls(smtp_server: SmtpServer) -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=smtp_server.port, username="kassa", password="secret")
    with pytest.raises(MailUnavailable, match="no STARTTLS"):
        mailer.send(a_message())
    assert smtp_server.inbox.deliveries == []


def test_addresses_are_masked_for_logs() -> None:
    assert mask_email("ada.lovelace@example.com") == "a***@example.com"
    assert mask_email("not an address") == "***"
    reply = "550 5.1.1 <ada.lovelace@example.com>: mailbox unavailable"
    assert mask_emails_in(reply) == "550 5.1.1 <a***@example.com>: mailbox unavailable"
