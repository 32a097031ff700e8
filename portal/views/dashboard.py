"""The portal's home: today and the last 7 days in the session's mode (core/workspace/dashboard.py), the
account, and the keys of that mode."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from core.web.request import runtime, uow
from core.workspace.dashboard import dashboard, sparkline
from portal import mode
from tenants.lookup import tenant_by_id
from tenants.models import ApiKey


def home() -> str:
    db = uow().session
    tenant = tenant_by_id(db, current_user.tenant_id)
    now = runtime().clock.now()
    stored = db.scalars(
        select(ApiKey)
        .where(ApiKey.revoked_at.is_(None), ApiKey.mode == mode.mode())
        .order_by(ApiKey.created_at)
    )
    keys = [key for key in stored if key.usable_at(now)]  # a rolled key past its overlap no longer works
    figures = dashboard(db, livemode=mode.livemode(), now=now) if current_user.can("payments:read") else None
    return render_template("portal/home.html", tenant=tenant, keys=keys, figures=figures, sparkline=sparkline)
