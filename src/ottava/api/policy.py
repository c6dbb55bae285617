"""Octavia's policy rules for oslo.policy, and the enforcer the API asks on every request.

The rule names and defaults are Octavia's (2023.2 and later): the API rules
(`os_load-balancer_api:<object>:<action>`) point at a handful of access rules
(`load-balancer:read`, `…:write`, `…:read-global`, the quota ones), which the role rules
resolve. The role rules default to Keystone's roles (`reader`, `member`, `admin`); each keeps
Octavia's older load-balancer_* roles as its deprecated form, which oslo.policy ORs in when
`[oslo_policy] enforce_new_defaults = False`. An operator's policy file overrides any rule;
`etc/policy/ottava-advanced-rbac-policy.yaml` restores the load-balancer_* roles alone.

`list_rules` and `get_enforcer` are the `oslo.policy.policies` / `oslo.policy.enforcer`
entry points, so `oslopolicy-sample-generator --namespace ottava` writes the sample.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from oslo_policy import policy

PREFIX = "os_load-balancer_api"
PROJECT = ["project"]

# Why the old roles were replaced (shown by oslo.policy's deprecation warnings).
DEPRECATED_REASON = (
    "Octavia's load-balancer_* roles gave way to Keystone's default roles (reader, member, "
    "admin). Set [oslo_policy] enforce_new_defaults = False to keep honouring them, or load "
    "a policy file that names them")
DEPRECATED_SINCE = "W"


def _old(name: str, check: str) -> policy.DeprecatedRule:
    return policy.DeprecatedRule(name=name, check_str=check, deprecated_reason=DEPRECATED_REASON,
                                 deprecated_since=DEPRECATED_SINCE)


def _rule(name: str, check: str, description: str = "", old: str | None = None
          ) -> policy.RuleDefault:
    return policy.RuleDefault(name=name, check_str=check, description=description,
                              scope_types=PROJECT,
                              deprecated_rule=_old(name, old) if old is not None else None)


# Roles, and who counts as an administrator. `is_admin:True` is true for every request when
# auth_strategy = noauth (as in Octavia) and for callers that pass context_is_admin.
ROLE_RULES = [
    _rule("project-member", "role:member and project_id:%(project_id)s",
          "A member of the project that owns the object."),
    _rule("project-reader", "role:reader and project_id:%(project_id)s",
          "A reader of the project that owns the object."),
    _rule("context_is_admin", "role:admin", "Who is an administrator of every project.",
          old="role:admin or role:load-balancer_admin"),
    _rule("load-balancer:owner", "project_id:%(project_id)s",
          "The caller's project owns the object."),
    _rule("load-balancer:admin", "is_admin:True or role:admin",
          "Administrator of the load-balancer service.",
          old="is_admin:True or role:admin or role:load-balancer_admin"),
    _rule("service", "role:service", "Another OpenStack service."),
    _rule("load-balancer:global_observer", "role:admin",
          "May read every project's load-balancer objects.",
          old="role:load-balancer_global_observer"),
    _rule("load-balancer:member_and_owner", "rule:project-member",
          "May read and change the objects of its own project.",
          old="role:load-balancer_member and rule:load-balancer:owner"),
    _rule("load-balancer:observer_and_owner", "rule:project-reader",
          "May read the objects of its own project.",
          old="role:load-balancer_observer and rule:load-balancer:owner"),
    _rule("load-balancer:quota-admin", "role:admin", "May read and change every quota.",
          old="role:load-balancer_quota_admin"),
]

READ = "rule:load-balancer:read"
READ_GLOBAL = "rule:load-balancer:read-global"
WRITE = "rule:load-balancer:write"
ADMIN = "rule:load-balancer:admin"
READ_QUOTA = "rule:load-balancer:read-quota"
READ_QUOTA_GLOBAL = "rule:load-balancer:read-quota-global"
WRITE_QUOTA = "rule:load-balancer:write-quota"

# The access rules, the only ones the API rules point at.
ACCESS_RULES = [
    _rule("load-balancer:read",
          "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
          "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    _rule("load-balancer:read-global",
          "rule:load-balancer:global_observer or rule:load-balancer:admin"),
    _rule("load-balancer:write", "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    _rule("load-balancer:read-quota",
          "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
          "rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or "
          "rule:load-balancer:admin"),
    _rule("load-balancer:read-quota-global",
          "rule:load-balancer:global_observer or rule:load-balancer:quota-admin or "
          "rule:load-balancer:admin"),
    _rule("load-balancer:write-quota",
          "rule:load-balancer:quota-admin or rule:load-balancer:admin"),
]

LB = "/v2/lbaas/loadbalancers"


def _api(obj: str, action: str, check: str, description: str, method: str, path: str
         ) -> policy.DocumentedRuleDefault:
    return policy.DocumentedRuleDefault(
        name=f"{PREFIX}:{obj}:{action}", check_str=check, description=description,
        operations=[{"method": method, "path": path}], scope_types=PROJECT)


def _crud(obj: str, title: str, plural: str, path: str, read: str = READ, write: str = WRITE,
          global_list: bool = True) -> list[policy.DocumentedRuleDefault]:
    one = path + "/{" + obj.replace("-", "_") + "_id}"
    rules = [_api(obj, "get_all", read, f"List {plural}", "GET", path)]
    if global_list:
        rules.append(_api(obj, "get_all-global", READ_GLOBAL,
                          f"List {plural} including resources owned by others", "GET", path))
    rules.append(_api(obj, "post", write, f"Create a {title}", "POST", path))
    rules.append(_api(obj, "get_one", read, f"Show {title} details", "GET", one))
    rules.append(_api(obj, "put", write, f"Update a {title}", "PUT", one))
    rules.append(_api(obj, "delete", write, f"Remove a {title}", "DELETE", one))
    return rules


API_RULES = [
    *_crud("loadbalancer", "Load Balancer", "Load Balancers", LB),
    _api("loadbalancer", "get_stats", READ, "Show Load Balancer statistics", "GET",
         LB + "/{loadbalancer_id}/stats"),
    _api("loadbalancer", "get_status", READ, "Show Load Balancer status", "GET",
         LB + "/{loadbalancer_id}/status"),
    _api("loadbalancer", "put_failover", ADMIN, "Failover a Load Balancer", "PUT",
         LB + "/{loadbalancer_id}/failover"),
    *_crud("listener", "Listener", "Listeners", "/v2/lbaas/listeners"),
    _api("listener", "get_stats", READ, "Show Listener statistics", "GET",
         "/v2/lbaas/listeners/{listener_id}/stats"),
    *_crud("pool", "Pool", "Pools", "/v2/lbaas/pools"),
    *_crud("member", "Member", "Members", "/v2/lbaas/pools/{pool_id}/members",
           global_list=False),
    *_crud("healthmonitor", "Health Monitor", "Health Monitors", "/v2/lbaas/healthmonitors"),
    *_crud("l7policy", "L7 Policy", "L7 Policies", "/v2/lbaas/l7policies"),
    *_crud("l7rule", "L7 Rule", "L7 Rules", "/v2/lbaas/l7policies/{l7policy_id}/rules",
           global_list=False),
    _api("quota", "get_all", READ_QUOTA, "List Quotas", "GET", "/v2/lbaas/quotas"),
    _api("quota", "get_all-global", READ_QUOTA_GLOBAL,
         "List Quotas including resources owned by others", "GET", "/v2/lbaas/quotas"),
    _api("quota", "get_one", READ_QUOTA, "Show Quota details", "GET",
         "/v2/lbaas/quotas/{project_id}"),
    _api("quota", "put", WRITE_QUOTA, "Update a Quota", "PUT", "/v2/lbaas/quotas/{project_id}"),
    _api("quota", "delete", WRITE_QUOTA, "Reset a Quota", "DELETE",
         "/v2/lbaas/quotas/{project_id}"),
    _api("quota", "get_defaults", READ_QUOTA, "Show Default Quota for a Project", "GET",
         "/v2/lbaas/quotas/{project_id}/default"),
    _api("amphora", "get_all", ADMIN, "List Amphorae", "GET", "/v2/octavia/amphorae"),
    _api("amphora", "get_one", ADMIN, "Show Amphora details", "GET",
         "/v2/octavia/amphorae/{amphora_id}"),
    _api("amphora", "delete", ADMIN, "Delete an Amphora", "DELETE",
         "/v2/octavia/amphorae/{amphora_id}"),
    _api("amphora", "put_config", ADMIN, "Update Amphora Agent Configuration", "PUT",
         "/v2/octavia/amphorae/{amphora_id}/config"),
    _api("amphora", "put_failover", ADMIN, "Failover Amphora", "PUT",
         "/v2/octavia/amphorae/{amphora_id}/failover"),
    _api("amphora", "get_stats", ADMIN, "Show Amphora statistics", "GET",
         "/v2/octavia/amphorae/{amphora_id}/stats"),
    _api("provider", "get_all", READ, "List enabled providers", "GET", "/v2/lbaas/providers"),
    _api("provider-flavor", "get_all", ADMIN, "List the provider flavor capabilities.", "GET",
         "/v2/lbaas/providers/{provider}/flavor_capabilities"),
    _api("provider-availability-zone", "get_all", ADMIN,
         "List the provider availability zone capabilities.", "GET",
         "/v2/lbaas/providers/{provider}/availability_zone_capabilities"),
    *_crud("flavor", "Flavor", "Flavors", "/v2/lbaas/flavors", write=ADMIN, global_list=False),
    *_crud("flavor-profile", "Flavor Profile", "Flavor Profiles", "/v2/lbaas/flavorprofiles",
           read=ADMIN, write=ADMIN, global_list=False),
    *_crud("availability-zone", "Availability Zone", "Availability Zones",
           "/v2/lbaas/availabilityzones", write=ADMIN, global_list=False),
    *_crud("availability-zone-profile", "Availability Zone Profile",
           "Availability Zone Profiles", "/v2/lbaas/availabilityzoneprofiles",
           read=ADMIN, write=ADMIN, global_list=False),
]


def list_rules() -> Iterable[policy.RuleDefault]:
    """Every rule Ottava enforces, with its default (the oslo.policy.policies entry point)."""
    return itertools.chain(ROLE_RULES, ACCESS_RULES, API_RULES)


@policy.register("is_admin")
class IsAdminCheck(policy.Check):
    """`is_admin:True`: the request's is_admin flag (noauth, or context_is_admin)."""

    def __init__(self, kind: str, match: str) -> None:
        self.expected = match.lower() == "true"
        super().__init__(kind, str(self.expected))

    def __call__(self, target: Any, creds: Mapping[str, Any], enforcer: Any,
                 current_rule: str | None = None) -> bool:
        return bool(creds.get("is_admin")) == self.expected


def new_enforcer(library_conf: Any) -> policy.Enforcer:
    """An enforcer reading [oslo_policy] from `library_conf` (the process's ConfigOpts, handed
    over opaque by the composition root), with Ottava's defaults registered."""
    enforcer = policy.Enforcer(library_conf)
    enforcer.register_defaults(list(list_rules()))
    return enforcer


class Policy:
    """Answers whether a caller may do an action on an object of a project.

    oslo.policy evaluates a rule afresh on every call (and looks for a changed policy file
    each time): a third of the CPU of a GET of one load balancer. Its answer depends only on
    the rule, the target's project and the caller's credentials, so each answer is kept for
    `DECISION_TTL` seconds under exactly those: a new token, other roles or another project
    is another key. A changed policy file takes effect within that time."""

    DECISION_TTL = 2.0  # seconds
    MAX_DECISIONS = 10_000

    def __init__(self, library_conf: Any) -> None:
        self.library_conf = library_conf
        self._enforcer: policy.Enforcer | None = None
        self._decisions: dict[Hashable, tuple[float, bool]] = {}

    @property
    def enforcer(self) -> policy.Enforcer:
        # Built on first use, so [oslo_policy] overrides set after the app is built count.
        if self._enforcer is None:
            self._enforcer = new_enforcer(self.library_conf)
        return self._enforcer

    def allows(self, rule: str, project_id: str | None, creds: Mapping[str, Any]) -> bool:
        key = (rule, project_id, _frozen(creds))
        now = time.monotonic()
        kept = self._decisions.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        allowed = self._evaluate(rule, project_id, creds)
        if len(self._decisions) >= self.MAX_DECISIONS:
            self._decisions.clear()  # rare; the next requests fill it again
        self._decisions[key] = (now + self.DECISION_TTL, allowed)
        return allowed

    def _evaluate(self, rule: str, project_id: str | None, creds: Mapping[str, Any]) -> bool:
        target = {"project_id": project_id}
        try:
            return bool(self.enforcer.enforce(rule, target, dict(creds), do_raise=True,
                                              exc=_Denied))
        except (_Denied, policy.InvalidScope):
            # A token of the wrong scope (system, domain) is refused like any other caller.
            return False

    def is_admin(self, creds: Mapping[str, Any]) -> bool:
        return self.allows("context_is_admin", creds.get("project_id"), creds)


class _Denied(Exception):
    pass


def _frozen(value: Any) -> Hashable:
    """`value` (credentials: strings, lists of roles, nested dicts) as a hashable key."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_frozen(v) for v in value]
        return tuple(sorted(items, key=repr)) if isinstance(value, (set, frozenset)) \
            else tuple(items)
    return value if isinstance(value, Hashable) else repr(value)
