"""The error classes of the service layer; the API maps each to an HTTP status and fault body.

Messages follow Octavia's wording, because clients (and people) match on them.
"""

from __future__ import annotations


class OttavaError(Exception):
    """Base of every error Ottava raises on purpose."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(OttavaError):
    """The request is malformed or breaks a rule (400)."""

    code = 400


class Forbidden(OttavaError):
    """Policy refused the request (403)."""

    code = 403


class QuotaExceeded(Forbidden):
    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class NotFound(OttavaError):
    code = 404

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found.")


class Conflict(OttavaError):
    """The object exists already, is in use, or is locked by another operation (409)."""

    code = 409


class Immutable(Conflict):
    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} is immutable and cannot be updated.")


class PendingState(Conflict):
    def __init__(self, state: str, ident: object) -> None:
        super().__init__(f"Invalid state {state} of loadbalancer resource {ident}")


class Deadlock(Conflict):
    """The database broke a deadlock between this change and a concurrent one by rolling this
    one back. The service tries it again a few times (`service.base.retry_deadlocks`); a 409
    only if it keeps losing."""

    def __init__(self) -> None:
        super().__init__("The request conflicts with a concurrent change, try again.")


class NotImplementedByProvider(OttavaError):
    code = 501


class Fenced(OttavaError):
    """A worker's claim on an operation was taken over (its lease lapsed and another worker
    claimed it): this worker must neither write nor undo anything for it."""

    code = 409

    def __init__(self, operation_id: str, token: int) -> None:
        super().__init__(f"Operation {operation_id} is no longer held with claim {token}: "
                         "another worker took it over")


class LostRace(Conflict):
    """The database refused a row because a concurrent change wrote a conflicting one first
    (a unique key taken, a referenced row gone) after this change had checked. The service
    runs the change again (`service.base.retry_deadlocks`), whose checks then see the other
    change and answer as they would have (a 409 naming the duplicate, an update instead of
    an insert); a 409 only if it keeps losing."""

    def __init__(self) -> None:
        super().__init__("The request conflicts with a concurrent change, try again.")


class Unavailable(OttavaError):
    """A service Ottava depends on (the database, the broker) does not answer (503)."""

    code = 503


class Retryable(OttavaError):
    """A driver call failed in a way that may succeed if tried again."""

    code = 503


class Fatal(OttavaError):
    """A driver call failed and will not succeed if tried again."""

    code = 500
