"""Errors as Octavia writes them: {"faultcode", "faultstring", "debuginfo"}; 5xx are logged."""

from __future__ import annotations

import json
from typing import Any

import falcon
from oslo_log import log as logging

from ottava.domain.errors import OttavaError

LOG = logging.getLogger(__name__)


def fault_body(status: int, message: str) -> str:
    return json.dumps({
        "faultcode": "Client" if status < 500 else "Server",
        "faultstring": message,
        "debuginfo": None,
    })


def _send(resp: falcon.Response, status: int, message: str) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = fault_body(status, message)


def handle_ottava_error(req: falcon.Request, resp: falcon.Response, ex: OttavaError,
                        params: Any) -> None:
    if ex.code >= 500:
        LOG.error("%s %s failed: %s", req.method, req.path, ex.message)
    _send(resp, ex.code, ex.message)


def handle_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError,
                      params: Any) -> None:
    status = ex.status_code
    if status == 406:
        # The one place Octavia answers in the API-WG error format.
        resp.status = status
        resp.content_type = falcon.MEDIA_JSON
        resp.text = json.dumps({"errors": [{
            "status": 406, "title": "Not Acceptable",
            "detail": "Only application/json is supported.",
            "request_id": req.context.get("request_id"),
        }]})
        return
    message = ex.description or ex.title or "Error"
    if status == 404 and not ex.description:
        message = "The resource could not be found."
    if status == 405:
        message = "The method is not allowed for the requested URL."
        for name, value in dict(ex.headers or {}).items():
            resp.set_header(name, value)
    _send(resp, status, message)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception,
                      params: Any) -> None:
    if isinstance(ex, falcon.HTTPError):
        handle_http_error(req, resp, ex, params)
        return
    LOG.exception("Unexpected error on %s %s", req.method, req.path)
    _send(resp, 500, "Internal Server Error")


def install(app: falcon.App) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(OttavaError, handle_ottava_error)
