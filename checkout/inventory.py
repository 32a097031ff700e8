"""The inventory of every script the payment pages may load (PCI DSS 6.4.3), and the tags that load them.

`checkout/script_inventory.json` is checked in and reviewed like code: for each script, the URL path it
is served at, its SHA-384 in SRI form, why the payment pages need it, where it comes from, and which
pages load it. Templates load a script only through `script_tag(filename)`, which takes the
`integrity` attribute from this inventory (read once at app start), never from the file on disk: a
script changed on the server no longer matches its checked-in hash, so browsers refuse to run it, and
`kassa checkout verify-scripts` reports it.

Changing a script (a new htmx version, an edit to Kassa's own JS) therefore means updating its entry
here in the same commit; `tests/checkout/test_script_inventory.py` fails until the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app, url_for
from markupsafe import Markup, escape

from core.web.security import csp_nonce

INVENTORY_PATH = Path(__file__).resolve().with_name("script_inventory.json")
EXTENSION_KEY = "kassa.script_inventory"
FIELDS = ("path", "integrity", "purpose", "source", "pages")


class InventoryError(Exception):
    """The inventory file is malformed, or a template asked for a script it does not list."""


@dataclass(frozen=True)
class Script:
    #: URL path the script is served at, e.g. "/static/vendor/htmx.min.js".
    path: str
    #: "sha384-<base64>", as in a Subresource Integrity attribute.
    integrity: str
    #: Why the payment pages load it (PCI DSS 6.4.3 asks for a written justification).
    purpose: str
    #: Where it comes from: "npm htmx.org@2.0.11" or "Kassa".
    source: str
    #: URL path prefixes of the pages that load it ("/pay/", "/embed/").
    pages: tuple[str, ...]

    def loaded_on(self, page_path: str) -> bool:
        return any(page_path.startswith(prefix) for prefix in self.pages)


@dataclass(frozen=True)
class Inventory:
    scripts: tuple[Script, ...]

    def get(self, path: str) -> Script | None:
        return next((script for script in self.scripts if script.path == path), None)

    def expected_on(self, page_path: str) -> list[Script]:
        return [script for script in self.scripts if script.loaded_on(page_path)]


def sri(data: bytes) -> str:
    """The Subresource Integrity value of these bytes: "sha384-" and the base64 of the digest."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def _script(entry: Any, index: int) -> Script:
    if not isinstance(entry, Mapping) or set(entry) != set(FIELDS):
        raise InvalidEntry(index, f"needs exactly the fields {', '.join(FIELDS)}")
    path, integrity, pages = entry["path"], entry["integrity"], entry["pages"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidEntry(index, "path must be the URL path the script is served at, starting with /")
    if not isinstance(integrity, str) or not integrity.startswith("sha384-"):
        raise InvalidEntry(index, 'integrity must be "sha384-" and the base64 SHA-384 of the file')
    if not isinstance(pages, list) or not all(isinstance(p, str) and p.startswith("/") for p in pages):
        raise InvalidEntry(index, "pages must list the URL path prefixes of the pages that load it")
    for field in ("purpose", "source"):
        if not isinstance(entry[field], str) or not entry[field].strip():
            raise InvalidEntry(index, f"{field} must say something")
    return Script(
        path=path,
        integrity=integrity,
        purpose=entry["purpose"],
        source=entry["source"],
        pages=tuple(pages),
    )


class InvalidEntry(InventoryError):
    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"{INVENTORY_PATH.name}, script #{index + 1}: {problem}")


def load(path: Path = INVENTORY_PATH) -> Inventory:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InventoryError(f"Cannot read the script inventory {path}: {exc}") from exc
    entries = document.get("scripts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InventoryError(f'{path} must be an object with a "scripts" list')
    scripts = tuple(_script(entry, i) for i, entry in enumerate(entries))
    duplicates = {s.path for s in scripts if sum(t.path == s.path for t in scripts) > 1}
    if duplicates:
        raise InventoryError(f"{path} lists {', '.join(sorted(duplicates))} more than once")
    return Inventory(scripts)


def inventory() -> Inventory:
    """The inventory the running app loaded at start."""
    loaded: Inventory = current_app.extensions[EXTENSION_KEY]
    return loaded


def _static_path(filename: str) -> str:
    return f"{current_app.static_url_path}/{filename.lstrip('/')}"


def integrity_of(filename: str) -> str:
    """The inventory's SRI value for a file under static/ (e.g. "vendor/htmx.min.js")."""
    script = inventory().get(_static_path(filename))
    if script is None:
        raise InventoryError(
            f"{_static_path(filename)} is not in {INVENTORY_PATH.name}: every script a payment page loads "
            "must be listed there with its SHA-384 and purpose (PCI DSS 6.4.3)"
        )
    return script.integrity


def script_tag(filename: str, *, defer: bool = True, **attributes: str) -> Markup:
    """`<script src=… integrity=… nonce=…>` for an inventoried file under static/."""
    attrs: dict[str, str] = {
        "src": url_for("static", filename=filename),
        "integrity": integrity_of(filename),
        "nonce": csp_nonce(),
        **attributes,
    }
    rendered = "".join(f' {name}="{escape(value)}"' for name, value in attrs.items())
    return Markup(f"<script{rendered}{' defer' if defer else ''}></script>")  # noqa: S704  (values escaped above)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = load()
    app.jinja_env.globals["script_tag"] = script_tag
    app.jinja_env.globals["sri"] = integrity_of
