"""Disputes: list, retrieve, submit evidence."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response

from core.disputes import queries
from core.disputes import service as disputes
from core.errors import InvalidInput
from core.web.request import uow
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response
from portal.api.views.common import same_mode
from portal.api.views.context import api_ctx


def list_disputes(query: dict[str, Any]) -> Response:
    page = queries.list_disputes(
        uow().session, livemode=caller().livemode, status=query.get("status"), **cursor(query)
    )
    return json_response(envelope(page, disputes.serialize))


def get_dispute(id: str) -> Response:
    dispute = disputes.get(uow().session, tenant_id=caller().tenant_id, dispute_id=id)
    return json_response(disputes.serialize(same_mode(dispute, "dispute", id)))


def submit_evidence(id: str, body: dict[str, Any]) -> Response:
    same_mode(disputes.get(uow().session, tenant_id=caller().tenant_id, dispute_id=id), "dispute", id)
    files = []
    for index, item in enumerate(body.get("files") or []):
        try:
            content = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"files[{index}].content_base64 is not base64.", param="files") from None
        files.append((item["filename"], content))
    made = disputes.submit_evidence(
        uow().session,
        api_ctx(),
        tenant_id=caller().tenant_id,
        dispute_id=id,
        fields=body.get("evidence") or {},
        files=files,
    )
    return json_response(disputes.serialize(made))
