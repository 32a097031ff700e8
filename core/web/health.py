"""`/healthz` (alive: the database and Redis answer) and `/readyz` (ready for traffic: the database and
Redis answer and the schema is at this code's migration head). Both 503 with a JSON body naming what is
down, `/readyz` with `Retry-After` (docs/operations.md, "Health and readiness")."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, url_for
from sqlalchemy import text
from werkzeug.wrappers import Response as WerkzeugResponse

from core import migrate
from core.jobs.runtime import Runtime
from core.web.access import public
from core.web.request import runtime

bp = Blueprint("health", __name__)
#: Seconds a load balancer waits before asking `/readyz` again after a 503.
RETRY_AFTER = 5


@bp.get("/favicon.ico")
@public
def favicon() -> WerkzeugResponse:
    # Browsers ask for /favicon.ico on any page (JSON ones too); answer with the SVG icon, not a 404.
    return redirect(url_for("static", filename="favicon.svg"), code=301)


def _checks(rt: Runtime, *, migrations: bool) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            if migrations:
                current, head = migrate.current_revision(conn), migrate.head_revision()
                checks["migrations"] = (
                    "ok" if current == head else f"not at head (database {current or 'empty'}, code {head})"
                )
    except Exception as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
        if migrations:
            checks["migrations"] = "unknown (database unavailable)"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    return checks


def _answer(checks: dict[str, str], *, retry_after: bool) -> Response:
    healthy = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if healthy else "degraded", **checks}
    if not healthy:
        body["down"] = sorted(name for name, value in checks.items() if value != "ok")
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    if not healthy and retry_after:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


@bp.get("/healthz")
@public
def healthz() -> Response:
    return _answer(_checks(runtime(), migrations=False), retry_after=False)


@bp.get("/readyz")
@public
def readyz() -> Response:
    return _answer(_checks(runtime(), migrations=True), retry_after=True)
