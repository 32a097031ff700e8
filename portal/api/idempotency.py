"""Idempotency-Key on every POST: same key and body replay the first answer; another body is a 422; a
request still in flight is a 409 (see core/idempotency.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Response, g, request
from sqlalchemy.exc import DBAPIError

from core import idempotency
from core.errors import InvalidInput, KassaError
from core.web.errors import error_response
from core.web.request import runtime, uow
from portal.api.auth import caller

HEADER = "Idempotency-Key"


def guarded(run: Callable[[], Response], *, secret_fields: tuple[str, ...] = ()) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return run()
    key = key.strip()
    if not key or len(key) > idempotency.MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1-255 printable characters (a UUID is ideal).", param=HEADER
        )
    rt = runtime()
    tenant_id, livemode = caller().tenant_id, caller().livemode
    fingerprint = idempotency.request_hash(request.method, request.path, request.get_data())
    # The claim commits on its own, before the work, so a concurrent retry sees it in flight (409). It
    # goes in the request's transaction, which so far has only read the API key and set the tenant: one
    # connection, no second set_config.
    stored = idempotency.claim(
        uow().session,
        tenant_id=tenant_id,
        livemode=livemode,
        key=key,
        fingerprint=fingerprint,
        clock=rt.clock,
    )
    uow().commit()
    if stored is not None:
        response = Response(stored.body, status=stored.status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    kept = False  # an error whose effects stand (KassaError.keeps_effects) is stored with them
    try:
        response = run()
    except KassaError as exc:
        response = error_response(
            exc.status, code=exc.code, message=exc.message, type_=exc.type, param=exc.param
        )
        kept = exc.keeps_effects
        if kept:
            g.commit_on_error = True  # the request's work stands with its error answer (core/web/request.py)
    except BaseException:
        _end_request_transaction()
        with rt.db.unit_of_work(tenant_id=tenant_id) as release_uow:
            idempotency.release(release_uow.session, livemode=livemode, key=key)
        raise
    body = response.get_data(as_text=True)
    if response.status_code < 400 and secret_fields:
        body = _without(body, secret_fields)
    if response.status_code < 400 or kept:
        try:
            # Stored in the request's own transaction: the answer is kept exactly when its effects are.
            # Written now (`complete` flushes them), while the claim can still be released: a write the
            # database refuses (a full disk, an unwritable audit table) is then a 503 the client may
            # retry under the same key, not a claim left in flight.
            idempotency.complete(
                uow().session, livemode=livemode, key=key, status=response.status_code, body=body
            )
        except DBAPIError:
            _end_request_transaction()
            with rt.db.unit_of_work(tenant_id=tenant_id) as release_uow:
                idempotency.release(release_uow.session, livemode=livemode, key=key)
            raise
    elif response.status_code < 500:
        _end_request_transaction()  # an error answer's effects are rolled back: only the answer is kept
        with rt.db.unit_of_work(tenant_id=tenant_id) as store_uow:
            idempotency.complete(
                store_uow.session, livemode=livemode, key=key, status=response.status_code, body=body
            )
    else:
        _end_request_transaction()
        with rt.db.unit_of_work(tenant_id=tenant_id) as release_uow:
            idempotency.release(release_uow.session, livemode=livemode, key=key)
    return response


def _without(body: str, fields: tuple[str, ...]) -> str:
    """The answer to keep for replays: shown-once fields set to null (a secret is never stored)."""
    data = json.loads(body)
    for name in fields:
        if name in data:
            data[name] = None
    return json.dumps(data)


def _end_request_transaction() -> None:
    """Roll back the request's own transaction (and so return its pooled connection) before this module
    opens one of its own. Holding both at once, N concurrent requests could take every connection of the
    pool and then wait forever for a second one each: a deadlock that ends in a pool timeout and a 500.
    Only reads (the API key) or effects already answered with an error are rolled back; the request's
    session begins a new transaction, with its tenant, when it is next used."""
    uow().rollback()
