"""Who is calling: the project and roles a request acts for.

The API builds it from the request's identity (see `ottava.api.auth`) and decides with the
policy what the caller may do before a service runs; services use the project to own what
they create. `is_admin` is the policy's `context_is_admin` (always true under noauth).
`token` is the caller's Keystone token, only where Keystone checked it (auth_strategy
keystone): with it the TLS references a listener or pool names are checked as the caller may
read them and granted to Ottava's own user (`CertificateStore.grant`), as Octavia does.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Caller:
    project_id: str | None
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    token: str | None = dataclasses.field(default=None, repr=False)  # never in a log line

    @property
    def reads_everything(self) -> bool:
        """Whether lists span every project (admins and global observers) when no policy
        decides it (the API's list routes ask the policy's get_all-global rule instead)."""
        return self.is_admin or "load-balancer_global_observer" in self.roles

    def project_scope(self) -> str | None:
        """The project a list is limited to, or None for every project."""
        return None if self.reads_everything else self.project_id
