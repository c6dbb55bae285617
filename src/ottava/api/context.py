"""Request middleware: the Accept check and the caller of each request.

The caller is built from the request's oslo.context (see `api.auth` for where its identity
comes from under each auth_strategy). `is_admin` follows Octavia: true for every request
under noauth, else whether the policy rule `context_is_admin` passes. The policy
credentials (oslo.context's policy values plus is_admin) stay on the request for the
routes' checks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import falcon

from ottava.api import auth
from ottava.api.policy import Policy
from ottava.domain.context import Caller
from ottava.domain.errors import Invalid
from ottava.settings import ApiSettings

# No identifier, filter, marker or header Ottava reads may hold NUL: PostgreSQL cannot store
# it, and no other database should be asked to compare it.
NUL = "\x00"
PROJECT_ID_LENGTH = 36
JSON_SUFFIX = ".json"
JSON_DOCUMENTS = frozenset({"/v2/openapi.json"})  # routes whose own name ends so


def refuse_control_characters(req: falcon.Request) -> None:
    """A 400 for a NUL byte anywhere in the path, the query or a header value."""
    if NUL in req.path or NUL in unquote(req.query_string):
        raise Invalid("NUL characters are not allowed in the request path or query")
    if any(NUL in (value or "") for value in req.headers.values()):
        raise Invalid("NUL characters are not allowed in request headers")


def check_project_id(project_id: str) -> str:
    """A project id as long as one may be, the caller's or one a path names, on every back
    end alike (Keystone's ids are 32 characters; Octavia stores at most 36)."""
    if len(project_id) > PROJECT_ID_LENGTH:
        raise Invalid(f"Invalid project id: longer than {PROJECT_ID_LENGTH} characters")
    return project_id


class RequestContext:
    def __init__(self, settings: ApiSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # oslo.middleware's RequestId has set the id and answers it in a response header.
        req.context.request_id = req.env.get("openstack.request_id")
        if req.path.endswith(JSON_SUFFIX) and req.path not in JSON_DOCUMENTS:
            # As Octavia: a `.json` suffix names the one format there is (routed without it).
            req.path = req.path[:-len(JSON_SUFFIX)] or "/"
        refuse_control_characters(req)
        accept = req.get_header("Accept")
        if accept and not (req.client_accepts_json or "*/*" in accept):
            raise falcon.HTTPNotAcceptable(description="Only application/json is supported.")
        ctx = auth.request_context(req.env, self.settings)
        if ctx.project_id:
            check_project_id(ctx.project_id)
        creds: dict[str, Any] = dict(ctx.to_policy_values())
        creds["is_admin"] = bool(ctx.is_admin) or self.policy.is_admin(creds)
        req.context.creds = creds
        # Only a token keystonemiddleware has checked speaks for the caller.
        token = ctx.auth_token if self.settings.auth_strategy == auth.KEYSTONE else None
        req.context.caller = Caller(project_id=ctx.project_id, roles=tuple(ctx.roles),
                                    is_admin=creds["is_admin"], token=token)
