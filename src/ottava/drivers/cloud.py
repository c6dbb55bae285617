"""What every driver that talks to OpenStack shares: the connection and the error mapping.

`connect` makes an openstacksdk Connection over a keystoneauth session as Ottava's service
user (`[service_auth]`), in one region and interface of the service catalog; every HTTP
request it sends is bounded by HTTP_TIMEOUT and names Ottava in its User-Agent. `errors()`
turns what openstacksdk and keystoneauth raise into the ports' errors: Retryable when trying
again may help (no answer, 5xx, 409), Fatal when it will not (any other refusal: the request
or the deployment is wrong).
Retrying itself is `drivers/bounded.Bounded`'s.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import Any

import openstack
from keystoneauth1 import exceptions as ks_errors
from keystoneauth1 import identity, session
from openstack import exceptions as sdk_errors

from ottava.domain.errors import Fatal, Retryable
from ottava.settings import ServiceAuth

HTTP_TIMEOUT = 30.0  # one HTTP request to Keystone, Nova, Glance or Neutron
APP_NAME = "ottava"  # leads the User-Agent: the services' access logs tell Ottava's calls apart


def connect(auth: ServiceAuth, region_name: str | None, interface: str) -> Any:
    """An openstacksdk Connection as the service user."""
    password = identity.Password(
        auth_url=auth.auth_url, username=auth.username, password=auth.password,
        project_name=auth.project_name, user_domain_name=auth.user_domain_name,
        project_domain_name=auth.project_domain_name)
    return openstack.connection.Connection(
        session=session.Session(auth=password, timeout=HTTP_TIMEOUT, app_name=APP_NAME),
        region_name=region_name, interface=interface)


def age(created_at: Any) -> float:
    """Seconds since a resource's `created_at` (ISO 8601, UTC); 0 when it has none."""
    try:
        made = datetime.datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if made.tzinfo is None:  # Neutron's stamps carry no zone: UTC
        made = made.replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - made).total_seconds()


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """openstacksdk's and keystoneauth's errors as the ports' errors."""
    try:
        yield
    except (Fatal, Retryable):
        raise
    except (ks_errors.ConnectFailure, ks_errors.ConnectTimeout,
            ks_errors.RetriableConnectionFailure, ks_errors.ServiceUnavailable,
            ks_errors.GatewayTimeout) as exc:
        raise Retryable(f"OpenStack does not answer: {exc}") from exc
    except sdk_errors.HttpException as exc:
        if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 409:
            raise Retryable(f"OpenStack answered {exc.status_code}: {exc}") from exc
        raise Fatal(f"OpenStack refused: {exc}") from exc
    except (ks_errors.ClientException, sdk_errors.SDKException) as exc:
        raise Fatal(f"OpenStack: {exc}") from exc
