"""Request middleware: the Accept check and the caller of each request.

With `auth_strategy = noauth` the project comes from `X-Project-Id` (else the configured
default) and every caller is an admin, as in Octavia. Keystone builds its callers from the
headers keystonemiddleware sets; that is the seam for the auth issue.
"""

from __future__ import annotations

import falcon
from oslo_config import cfg
from oslo_context import context as oslo_context

from ottava.domain.context import Caller


class RequestContext:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        # oslo.middleware's RequestId has set the id and answers it in a response header.
        req.context.request_id = req.env.get("openstack.request_id")
        accept = req.get_header("Accept")
        if accept and not (req.client_accepts_json or "*/*" in accept):
            raise falcon.HTTPNotAcceptable(description="Only application/json is supported.")
        req.context.caller = self.caller(req)

    def caller(self, req: falcon.Request) -> Caller:
        api = self.conf.api_settings
        if api.auth_strategy == "noauth":
            project = req.get_header("X-Project-Id") or api.default_project_id
            roles = tuple(r.strip() for r in (req.get_header("X-Roles") or "").split(",")
                          if r.strip())
            return Caller(project_id=project, roles=roles, is_admin=True)
        ctx = oslo_context.RequestContext.from_environ(req.env)
        return Caller(project_id=ctx.project_id, roles=tuple(ctx.roles),
                      is_admin="admin" in ctx.roles)
