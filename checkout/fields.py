"""The checkout's form fields rendered in Python: the same HTML as `templates/_macros/field.html` (which the
portal keeps), for a fraction of the cost on the hosted page, the hottest page Kassa serves.

Through the macro, each field cost a Jinja macro call and WTForms' `html_params`, which formats every
attribute with `Markup.format` and translates each lazy string again; half of the page's template time.
Here the attributes are built as WTForms builds them (the field's `render_kw`, the validators' flags, the
sorted, escaped `name="value"` pairs) and joined with plain string operations.
tests/checkout/test_fields.py renders every checkout field both ways, in every state, and compares them.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from wtforms.fields import Field
from wtforms.widgets import Input
from wtforms.widgets.core import clean_key

from checkout.forms import CardDataInput


def _params(attributes: dict[str, Any]) -> str:
    """`wtforms.widgets.html_params`, without Markup.format: sorted, `True` bare, `False` left out."""
    parts = []
    for key, value in sorted(attributes.items()):
        if value is True:
            parts.append(key)
        elif value is not False:
            parts.append(f'{key}="{escape(value)}"')
    return " ".join(parts)


def _input(f: Field, extra: dict[str, Any]) -> str:
    """What `f(**extra)` renders for an `Input` widget (wtforms.meta.render_field, then Input.__call__)."""
    widget = f.widget
    if not isinstance(widget, Input) or getattr(f, "_datalist", None) is not None:
        return str(f(**extra))
    attributes = {clean_key(k): v for k, v in (f.render_kw or {}).items()}
    attributes.update({clean_key(k): v for k, v in extra.items()})
    attributes.setdefault("id", f.id)
    attributes.setdefault("type", widget.input_type)
    if isinstance(widget, CardDataInput):
        attributes["value"] = ""  # never the card number or security code the shopper typed
    elif "value" not in attributes:
        attributes["value"] = f._value()  # type: ignore[attr-defined]
    flags = vars(f.flags)  # the flags set (WTForms' `dir(flags)`; an unset one reads as None)
    for name in getattr(widget, "validation_attrs", ()):
        if name not in attributes and name in flags:
            value = flags[name]
            attributes[name] = value() if callable(value) else value
    attributes["name"] = f.name
    return f"<input {_params(attributes)}>"


def field(f: Field, width: str = "", focus: str | None = None, body: str = "") -> Markup:
    """One field as `{{ field(f, width, focus=focus) }}` of the macro renders it (`body`: what the macro's
    `{% call %}` puts next to the input, the card brand marks)."""
    errors = list(f.errors)
    description = f.description
    field_id = f.id
    attributes: dict[str, Any] = {"aria-invalid": "true" if errors else "false"}
    described = ([f"{field_id}-error"] if errors else []) + ([f"{field_id}-hint"] if description else [])
    if described:
        attributes["aria-describedby"] = " ".join(described)
    if focus and field_id == focus:
        attributes["autofocus"] = True
    classes = (" has-error" if errors else "") + (f" {width}" if width else "")
    hint = ""
    if description:
        hint = f'<span class="hint" id="{escape(field_id)}-hint">{escape(description)}</span>'
    control = _input(f, attributes)
    if body:
        control = f'<div class="input-with-marks">{control}{escape(body)}</div>'
    error = ""
    if errors:
        error = f'<p class="error" id="{escape(field_id)}-error">{escape(" ".join(map(str, errors)))}</p>'
    label = f'<label for="{escape(field_id)}">{escape(f.label.text)}</label>'
    html = f'<div class="field{classes}">\n    {label}\n    {hint}\n    {control}\n    {error}\n  </div>'
    return Markup(html)  # noqa: S704  (every value in it escaped above)
