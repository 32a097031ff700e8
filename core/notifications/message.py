"""The notification email: plain text and HTML alternatives, in English like the portal.

Workers have no Flask app, so this renders with Jinja directly (templates/mail/notification.*). A
notification's text never holds card numbers or secrets (service.py writes only ids, counts and rates).
"""

from __future__ import annotations

import functools
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime as header_date
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.notifications.models import Notification

TEMPLATES: Final = Path(__file__).resolve().parents[2] / "templates" / "mail"


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _one_line(text: str) -> str:
    # The title goes into a header: no line break may start a header of its own.
    return " ".join(text.split())


def compose(
    notification: Notification, *, to: str, sender: str, message_id: str, base_url: str, now: datetime
) -> EmailMessage:
    title = _one_line(notification.title)
    values = {
        "notification": notification,
        "title": title,
        "link": f"{base_url.rstrip('/')}{notification.link}" if notification.link else None,
        "notifications_url": f"{base_url.rstrip('/')}/portal/notifications",
        "preferences_url": f"{base_url.rstrip('/')}/portal/notifications/preferences",
    }
    message = EmailMessage()
    message["Subject"] = f"[Kassa{'' if notification.livemode else ' test mode'}] {title}"
    message["From"] = sender
    message["To"] = to
    message["Date"] = header_date(now)
    message["Message-ID"] = message_id
    environment = _environment()
    message.set_content(environment.get_template("notification.txt").render(values))
    message.add_alternative(environment.get_template("notification.html").render(values), subtype="html")
    return message
