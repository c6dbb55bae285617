"""Who is calling: the project and roles a request acts for."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Caller:
    project_id: str | None
    roles: tuple[str, ...] = ()
    is_admin: bool = False

    @property
    def reads_everything(self) -> bool:
        """Whether lists span every project (admins and global observers)."""
        return self.is_admin or "load-balancer_global_observer" in self.roles

    def project_scope(self) -> str | None:
        """The project a list is limited to, or None for every project."""
        return None if self.reads_everything else self.project_id
