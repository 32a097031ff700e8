"""The `kassa` commands, one module per concern. `wsgi.create_app()` adds `COMMANDS` to the app's CLI
group, so `kassa ...` (the console script, `wsgi:cli`) and `flask --app wsgi ...` see the same tree.

This package imports core, tenants and checkout (for `checkout verify-scripts`), never portal, `wsgi` or
the web surfaces: a command gets the app it runs in from Flask's app context (`cli.common.runtime()`).
Nothing below it imports it (import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

import click

from cli.audit import audit_group
from cli.backup import backup_group
from cli.checkout import checkout_group
from cli.db import db_group
from cli.keys import keys_group
from cli.payouts import payouts_group
from cli.processes import cron_command, demo_command, serve_command, worker_command
from cli.reports import reports_group
from cli.status import status_command
from cli.tenants import tenants_group
from cli.users import users_group

#: Every top-level `kassa` command and group (Flask adds `run`, `shell` and `routes`).
COMMANDS: tuple[click.Command, ...] = (
    db_group,
    tenants_group,
    users_group,
    audit_group,
    backup_group,
    keys_group,
    reports_group,
    payouts_group,
    checkout_group,
    worker_command,
    cron_command,
    serve_command,
    demo_command,
    status_command,
)
