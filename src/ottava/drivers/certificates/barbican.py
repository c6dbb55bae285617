"""The certificate store that reads TLS certificates from Barbican (or the local key manager).

`BarbicanCertificateStore(settings)` fetches with python-barbicanclient over a keystoneauth1
session, in one of two ways, after `settings.key_manager`:

- `auth` given (a cloud): a password session as Ottava's service user, as Octavia's
  `barbican_acl_auth`. Barbican lets that user read only what the owner granted it with an
  ACL: read on the certificate container *and* on each secret in it (a container's ACL does
  not reach its secrets), or on the PKCS#12 / CA / CRL secret. The endpoint is the catalog's
  `key-manager` of `region_name` and `endpoint_type`, unless `endpoint` overrides it.
- `auth` None (one host): no Keystone; every call names the caller's project in
  `X-Project-Id` (Barbican's unauthenticated mode, which the local key manager serves) at
  `endpoint`.

With a service user the caller's project is not checked by Barbican: whatever was granted to
Ottava can be read on anyone's behalf. `grant` closes that, as Octavia does: with the caller's
own token (a token plugin at the key manager's endpoint, so no call to Keystone) it reads the
reference (a container, and the metadata of each secret) and its ACL, which only those who
manage it may (403/404 otherwise: the reference is refused), and adds Ottava's user to its
readers, on a container's secrets too. The ACL is read, merged and written back whole
(Barbican has no "add one user"): an owner's concurrent ACL change can be lost. So the user
never has to grant Ottava anything, and another project's reference is refused even when its
owner granted it to Ottava. In the unauthenticated mode every fetch already names the
caller's project, and `grant` does nothing.

A reference names the Barbican it lives in; one of another host (or path) is refused before
any call, so a user cannot point the controller at another server. barbicanclient would only
use the reference's UUID against the configured endpoint anyway; the check makes a wrong
reference a clear 400 instead of a lookup of that UUID here.

Errors: what the user named but cannot have (403, 404, a malformed or foreign reference, a
container that is not a certificate container, a bundle that fails `bundles`' checks) is
`Invalid` with Octavia's "Could not retrieve certificate: ['<ref>']" (the reason is logged);
Barbican or Keystone not answering, or answering 5xx, is `Retryable` (503); Ottava's own
credentials or catalog refused is `Fatal` (500). Time and retries: every HTTP call is bounded
here by `key_manager.timeout` (the session's timeout; only the driver can bound one call, and
it lets a call the caller gave up on end on its own); retrying belongs to
`drivers/bounded.Bounded`, which the composition root wraps every driver in: it retries
`Retryable` (whole fetches, which are reads and safe to repeat) within `call_timeout`, so
this module does not retry as well (three tries of three tries would be nine).
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from barbicanclient import client as barbican_client
from barbicanclient import exceptions as barbican_errors
from barbicanclient.v1 import containers as barbican_containers
from keystoneauth1 import exceptions as ks_errors
from keystoneauth1 import identity, session, token_endpoint
from oslo_log import log as logging
from oslo_utils import uuidutils

from ottava.domain.errors import Fatal, Retryable
from ottava.domain.ports.certificates import CertificateBundle, PemKind
from ottava.drivers.certificates import bundles
from ottava.settings import DriverSettings, KeyManagerSettings

LOG = logging.getLogger(__name__)
SERVICE_TYPE = "key-manager"
INTERFACES = ("public", "internal", "admin")
# …/v1/containers/<uuid> or …/v1/secrets/<uuid>, after the endpoint's own path.
_REF_TAIL = re.compile(r"/v1/(?P<kind>containers|secrets)/(?P<uuid>[^/]+)/?\Z")
CLIENTS_KEPT = 256  # per-project clients of the unauthenticated mode, each made with one GET


class BarbicanCertificateStore:
    def __init__(self, settings: DriverSettings) -> None:
        km = settings.key_manager
        if km.auth is None and not km.endpoint:
            raise ValueError("The Barbican certificate store needs [certificates] endpoint "
                             "when there is no [service_auth]")
        self._settings = km
        self._session = _session(km)
        self._lock = threading.Lock()
        self._clients: collections.OrderedDict[str | None, Any] = collections.OrderedDict()
        self._bases: tuple[tuple[str, str, str], ...] | None = None

    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        kind = _kind(ref)
        with self._answers(ref):
            self._require_ours(ref)
            client = self._client(project_id, ref)
            if kind == "secrets":
                # A single secret is a PKCS#12 file (Octavia's current Barbican driver).
                return bundles.pkcs12_bundle(_payload(client.secrets.get(ref)))
            container = _certificate_container(client, ref)
            return bundles.certificate_bundle(
                _part(container.certificate), _part(container.private_key),
                _part(container.intermediates), _part(container.private_key_passphrase))

    def fetch_secret(self, ref: str, project_id: str | None, kind: PemKind) -> str:
        if _kind(ref) != "secrets":
            raise bundles.retrieval_error(ref)
        with self._answers(ref):
            self._require_ours(ref)
            payload = _payload(self._client(project_id, ref).secrets.get(ref))
            return bundles.check_ca(payload) if kind == "ca" else bundles.check_crl(payload)

    def grant(self, ref: str, token: str) -> None:
        if self._settings.auth is None:
            return  # no user of Ottava's own: fetches read as the caller's project
        kind = _kind(ref)
        with self._answers(ref):
            self._require_ours(ref)
            ottava_user = self._session.get_user_id()  # known since the authentication
            if not ottava_user:
                raise Fatal("Keystone named no user for Ottava's [service_auth]")
            endpoint = self._endpoint()
        with self._answers(ref, as_caller=True):
            caller = self._caller_client(token, endpoint)
            refs = [ref]
            if kind == "containers":  # read as the caller: it may read the container
                refs += _certificate_container(caller, ref).secret_refs.values()
            for each in refs:
                if "/secrets/" in each:
                    # Read as the caller too: managing an ACL need not mean reading the
                    # secret (a private one), and only what the caller reads is granted.
                    _ = caller.secrets.get(each).status  # the metadata, one GET
                _add_reader(caller, each, ottava_user)

    @contextlib.contextmanager
    def _answers(self, ref: str, as_caller: bool = False) -> Iterator[None]:
        """Barbican's and keystoneauth's errors as the port's: see the module's docstring.
        `as_caller`: the calls carry the caller's token, so a 401 is theirs, not Ottava's."""
        try:
            yield
        except bundles.UnusableCertificate as exc:
            LOG.warning("Certificate %s is not usable: %s", ref, exc.message)
            raise bundles.retrieval_error(ref) from None
        except barbican_errors.HTTPAuthError as exc:
            if as_caller:
                LOG.warning("Barbican refused the caller's token for %s: %s", ref, exc)
                raise bundles.retrieval_error(ref) from None
            raise Fatal(f"Barbican refused Ottava's credentials: {exc}") from None
        except barbican_errors.HTTPServerError as exc:
            raise Retryable(f"Barbican failed ({exc.status_code}): {exc}") from None
        except barbican_errors.HTTPClientError as exc:
            # 403 (no ACL for Ottava, another project's) and 404 read alike, as in Octavia.
            LOG.warning("Barbican answered %s for %s: %s", exc.status_code, ref, exc)
            raise bundles.retrieval_error(ref) from None
        except ks_errors.SSLError as exc:
            raise Fatal(f"TLS to Barbican or Keystone failed: {exc}") from None
        except (ks_errors.ConnectionError, ks_errors.RetriableConnectionFailure,
                ks_errors.DiscoveryFailure) as exc:
            raise Retryable(f"Barbican or Keystone did not answer: {exc}") from None
        except ks_errors.HttpError as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise Retryable(f"Barbican or Keystone failed: {exc}") from None
            raise Fatal(f"Barbican or Keystone refused Ottava: {exc}") from None
        except ks_errors.ClientException as exc:  # the catalog has no key manager, …
            raise Fatal(f"Cannot reach Barbican: {exc}") from None

    def _require_ours(self, ref: str) -> None:
        """Refuse a reference that is not of the configured Barbican (scheme, host, port and
        the endpoint's path); in a cloud any of the catalog's interfaces is Barbican's."""
        parsed = urllib.parse.urlsplit(ref)
        for scheme, netloc, prefix in self._known_bases():
            if ((parsed.scheme.lower(), _netloc(parsed)) == (scheme, netloc)
                    and parsed.path.startswith(prefix)
                    and _REF_TAIL.fullmatch(parsed.path[len(prefix):])):
                return
        LOG.warning("Refusing %s: not a reference of the configured Barbican", ref)
        raise bundles.retrieval_error(ref)

    def _known_bases(self) -> tuple[tuple[str, str, str], ...]:
        if self._bases is None:
            km = self._settings
            if km.endpoint:
                urls = [km.endpoint]
            else:
                # From the token's catalog: no call beyond the authentication itself.
                urls = [url for interface in INTERFACES
                        if (url := _catalog_url(self._session, km, interface))]
            self._bases = tuple(dict.fromkeys(_base(url) for url in urls))
        return self._bases

    def _endpoint(self) -> str:
        """The key manager's URL: the configured one, else the catalog's."""
        km = self._settings
        url = km.endpoint or _catalog_url(self._session, km, km.endpoint_type)
        if not url:
            raise Fatal(f"The catalog has no {km.endpoint_type} {SERVICE_TYPE} endpoint")
        return url

    def _caller_client(self, token: str, endpoint: str) -> Any:
        """A client acting as the holder of `token`, made per call (it costs Barbican's
        version discovery, one unauthenticated GET)."""
        auth = token_endpoint.Token(endpoint, token)
        caller_session = session.Session(auth=auth, timeout=self._settings.timeout)
        return barbican_client.Client(session=caller_session, endpoint=endpoint)

    def _client(self, project_id: str | None, ref: str) -> Any:
        """barbicanclient's client: one for the service user, or one per project (it holds
        `X-Project-Id`) without Keystone; making one costs Barbican's version discovery."""
        key = project_id if self._settings.auth is None else None
        if self._settings.auth is None and not project_id:
            LOG.warning("Cannot fetch %s without a project in unauthenticated mode", ref)
            raise bundles.retrieval_error(ref)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
        made = self._new_client(project_id)
        with self._lock:
            self._clients[key] = made
            while len(self._clients) > CLIENTS_KEPT:
                self._clients.popitem(last=False)
        return made

    def _new_client(self, project_id: str | None) -> Any:
        km = self._settings
        options: dict[str, Any] = {"interface": km.endpoint_type}
        if km.region_name:
            options["region_name"] = km.region_name
        if km.endpoint:
            options["endpoint"] = km.endpoint
        if km.auth is None:
            options["project_id"] = project_id
        return barbican_client.Client(session=self._session, **options)


def _session(km: KeyManagerSettings) -> session.Session:
    """A keystoneauth session whose every call is bounded by `km.timeout` and not retried
    (connect_retries stays 0: `Bounded` retries)."""
    if km.auth is None:
        return session.Session(timeout=km.timeout)
    a = km.auth
    plugin = identity.Password(auth_url=a.auth_url, username=a.username, password=a.password,
                               project_name=a.project_name, user_domain_name=a.user_domain_name,
                               project_domain_name=a.project_domain_name)
    return session.Session(auth=plugin, timeout=km.timeout)


def _kind(ref: str) -> str:
    """"containers" or "secrets", from a reference's path; Invalid if it is no Barbican URL."""
    parsed = urllib.parse.urlsplit(ref)
    match = _REF_TAIL.search(parsed.path)
    if (match is None or parsed.scheme.lower() not in ("http", "https") or not parsed.netloc
            or parsed.query or parsed.fragment or not uuidutils.is_uuid_like(match["uuid"])):
        LOG.warning("Refusing %r: not a Barbican container or secret reference", ref)
        raise bundles.retrieval_error(ref)
    return match["kind"]


def _netloc(parsed: urllib.parse.SplitResult) -> str:
    default = {"http": 80, "https": 443}.get(parsed.scheme.lower())
    try:
        port = parsed.port or default
    except ValueError:  # a port that is not a number
        return ""
    host = (parsed.hostname or "").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _base(url: str) -> tuple[str, str, str]:
    """(scheme, host:port, path prefix) of an endpoint; a trailing /v1 is the API's, not the
    prefix's."""
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return parsed.scheme.lower(), _netloc(parsed), path


def _catalog_url(sess: session.Session, km: KeyManagerSettings, interface: str) -> str | None:
    try:
        url = sess.get_endpoint(service_type=SERVICE_TYPE, interface=interface,
                                region_name=km.region_name)
    except ks_errors.EndpointNotFound:
        return None
    return str(url) if url else None


def _certificate_container(client: Any, ref: str) -> Any:
    try:
        container = client.containers.get(ref)
    except (TypeError, LookupError) as exc:
        # barbicanclient's "Unknown container type" and "could not be found".
        raise bundles.UnusableCertificate(f"Not a usable container: {exc}") from None
    if not isinstance(container, barbican_containers.CertificateContainer):
        # Octavia reads only certificate containers (a generic one's names are free-form).
        raise bundles.UnusableCertificate("The container is not a certificate container")
    return container


def _add_reader(client: Any, ref: str, user_id: str) -> None:
    """Add `user_id` to the read ACL of the secret or container `ref` (kept as it is when
    it is there already; the users and project access already set stay)."""
    acl = client.acls.get(ref)
    read = acl.read  # every entity has a read ACL, if only the implicit one
    users = list(read.users or [])
    if user_id in users:
        return
    read.users = [*users, user_id]
    acl.submit()


def _payload(secret: Any) -> str | bytes:
    """A secret's payload: text for text/plain (Barbican strips its surrounding whitespace,
    so a PEM comes without its final newline; the checks do not mind), bytes otherwise."""
    payload = secret.payload  # None: the secret has no payload (barbicanclient logs it)
    if not isinstance(payload, str | bytes):
        raise bundles.UnusableCertificate(f"The secret {secret.secret_ref} holds no payload")
    return payload


def _part(secret: Any | None) -> str | bytes | None:
    return None if secret is None else _payload(secret)
