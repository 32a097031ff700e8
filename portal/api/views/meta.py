"""The API's description of itself."""

from __future__ import annotations

from flask import Response

from portal.api.openapi import document
from portal.api.routing import json_response


def openapi() -> Response:
    return json_response(document())
