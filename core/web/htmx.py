"""Template fragments: one template per screen; an htmx request gets one `{% block %}` of it."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.templating import render_template
from htmx_flask import request


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", False))


def render_page_or_block(template_name: str, *, block: str | None = None, **context: Any) -> str:
    if block is None or not is_htmx():
        return render_template(template_name, **context)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.get_or_select_template(template_name)
    app.update_template_context(context)
    return "".join(template.blocks[block](template.new_context(context)))
