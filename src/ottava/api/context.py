"""Request middleware: the Accept check and the caller of each request.

The caller is built from the request's oslo.context (see `api.auth` for where its identity
comes from under each auth_strategy). `is_admin` follows Octavia: true for every request
under noauth, else whether the policy rule `context_is_admin` passes. The policy
credentials (oslo.context's policy values plus is_admin) stay on the request for the
routes' checks.
"""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import auth
from ottava.api.policy import Policy
from ottava.domain.context import Caller
from ottava.settings import ApiSettings


class RequestContext:
    def __init__(self, settings: ApiSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # oslo.middleware's RequestId has set the id and answers it in a response header.
        req.context.request_id = req.env.get("openstack.request_id")
        accept = req.get_header("Accept")
        if accept and not (req.client_accepts_json or "*/*" in accept):
            raise falcon.HTTPNotAcceptable(description="Only application/json is supported.")
        ctx = auth.request_context(req.env, self.settings)
        creds: dict[str, Any] = dict(ctx.to_policy_values())
        creds["is_admin"] = bool(ctx.is_admin) or self.policy.is_admin(creds)
        req.context.creds = creds
        req.context.caller = Caller(project_id=ctx.project_id, roles=tuple(ctx.roles),
                                    is_admin=creds["is_admin"])
