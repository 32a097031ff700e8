"""`/healthz`: 200 when the database and Redis answer, 503 (saying which failed) otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, url_for
from sqlalchemy import text
from werkzeug.wrappers import Response as WerkzeugResponse

from core.web.access import public
from core.web.request import runtime

bp = Blueprint("health", __name__)


@bp.get("/favicon.ico")
@public
def favicon() -> WerkzeugResponse:
    # Browsers ask for /favicon.ico on any page (JSON ones too); answer with the SVG icon, not a 404.
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/healthz")
@public
def healthz() -> Response:
    rt = runtime()
    checks: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    healthy = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if healthy else "degraded", **checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
