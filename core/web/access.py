"""Every view declares who may reach it, so an undeclared route is distinguishable from a public one.

A declaration is a string set on the view function: `PUBLIC` (anyone: sign-in, health, checkout pages, the
OpenAPI document), `SIGNED_IN` (any signed-in portal member, for their own account only) or a permission
name (tenants/permissions.py). The surfaces' dispatchers enforce it; `undeclared` lists the endpoints of
an app whose view declares nothing, and tests/test_route_permissions.py fails on any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from flask import Flask

PUBLIC: Final = "public"
SIGNED_IN: Final = "signed_in"
#: The tenant's owners only (a rule of the team, not a permission: admins hold every permission too),
#: e.g. what needs four-eyes approval.
OWNER: Final = "owner"
ATTRIBUTE: Final = "kassa_access"

#: Flask's own endpoints: the static files (a bound method, which takes no attribute) are public.
BUILTIN_PUBLIC: Final = frozenset({"static"})

F = TypeVar("F", bound=Callable[..., object])


def declare(view: F, access: str) -> F:
    setattr(view, ATTRIBUTE, access)
    return view


def public(view: F) -> F:
    return declare(view, PUBLIC)


def declared(view: object) -> str | None:
    value = getattr(view, ATTRIBUTE, None)
    return value if isinstance(value, str) and value else None


def undeclared(app: Flask) -> list[str]:
    """The endpoints of `app` whose view declares no access."""
    return sorted(
        {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if rule.endpoint not in BUILTIN_PUBLIC and declared(app.view_functions[rule.endpoint]) is None
        }
    )
