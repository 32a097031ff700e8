"""The portal's home: the account, its keys and the way in for developers."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from core.web.request import uow
from tenants.lookup import tenant_by_id
from tenants.models import ApiKey


def home() -> str:
    db = uow().session
    tenant = tenant_by_id(db, current_user.tenant_id)
    keys = db.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at)).all()
    return render_template("portal/home.html", tenant=tenant, keys=keys)
