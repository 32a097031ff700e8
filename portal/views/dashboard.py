"""The portal's home: the account, its keys and the way in for developers."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from core.web.request import runtime, uow
from tenants.lookup import tenant_by_id
from tenants.models import ApiKey


def home() -> str:
    db = uow().session
    tenant = tenant_by_id(db, current_user.tenant_id)
    now = runtime().clock.now()
    stored = db.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at))
    keys = [key for key in stored if key.usable_at(now)]  # a rolled key past its overlap no longer works
    return render_template("portal/home.html", tenant=tenant, keys=keys)
