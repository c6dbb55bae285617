"""schemathesis drives every operation of `/v2/openapi.json` against a live stack, on every
database back end, with well-formed and malformed requests (schemathesis's positive and
negative generation) and a bounded budget: no answer may be a 5xx, every answer must carry a
status, content type and body its operation documents (errors: Octavia's fault body).

The budget is OTTAVA_FUZZ_EXAMPLES examples per operation (default 25); the cases are
derandomized so that a CI failure reproduces locally with the same command.
"""

from __future__ import annotations

import collections
import itertools
import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.functional.test_bad_input import build_world
from tests.functional.test_malformed import build_catalog
from tests.harness import Client

EXAMPLES = int(os.environ.get("OTTAVA_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


# Which of the world's objects a path parameter names, by the collection before it.
TARGETS = {
    "loadbalancers": "lb", "listeners": "listener", "pools": "spare", "healthmonitors": "hm",
    "l7policies": "policy", "flavors": "flavor", "flavorprofiles": "flavorprofile",
    "availabilityzones": "az", "availabilityzoneprofiles": "azprofile", "quotas": "project",
    "members": "spare_member", "rules": "rule", "providers": "provider",
}
# Ids in a body that must name a real object for the request to go anywhere.
BODY_IDS = {"loadbalancer_id": "lb", "listener_id": "listener", "pool_id": "spare",
            "redirect_pool_id": "pool", "default_pool_id": "spare",
            "flavor_profile_id": "flavorprofile", "availability_zone_profile_id": "azprofile"}


def aim(case: Any, ids: dict[str, str]) -> None:
    """Point the generated request at the world's objects, so that it reaches the code past
    the 404 (deletes stay aimed at nothing: the world must last the run)."""
    if case.method.upper() == "DELETE":
        return
    segments = case.path.strip("/").split("/")
    for index, segment in enumerate(segments):
        name = segment.strip("{}")
        if segment.startswith("{") and name in (case.path_parameters or {}):
            target = TARGETS.get(segments[index - 1])
            if target in ids:
                case.path_parameters[name] = ids[target]
    body = case.body if isinstance(case.body, dict) else {}
    for inner in body.values():
        if isinstance(inner, dict):
            for key, target in BODY_IDS.items():
                if key in inner:
                    inner[key] = ids[target]


def operations(stack: Any) -> list[Any]:
    loaded = schemathesis.openapi.from_url(f"{stack.url}/v2/openapi.json")
    # Every route is served under four prefixes; one of them covers the code.
    chosen = loaded.include(path_regex=r"^/v2/(lbaas|octavia)/")
    return [result.ok() for result in chosen.get_all_operations()]


def test_every_operation_answers_as_documented(stack: Any) -> None:
    stack.clear()
    api = Client(stack.url)
    ids = build_world(api)
    ids.update(build_catalog(api), provider="amphora")
    stack.settle()
    failures: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    for operation, mode in itertools.product(operations(stack), GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            aim(case, ids)
            response = case.call_and_validate(base_url=stack.url, checks=CHECKS, timeout=30)
            statuses[response.status_code // 100] += 1
            if response.status_code < 300 and case.method.upper() != "GET":
                stack.settle()  # what it queued runs before the next request

        try:
            fuzz()
        except Unsatisfiable:
            continue  # no malformed request exists (a lone free-form string in the path)
        except Exception as error:  # one operation's failure; go on with the others
            failures.append(f"{operation.label} ({mode}): {str(error)[:600]}")
    print(f"fuzzed {sum(statuses.values())} requests: "
          + ", ".join(f"{k}xx {v}" for k, v in sorted(statuses.items())))
    # The run reached past validation: many requests were carried out.
    assert statuses[2] > EXAMPLES * 5, statuses
    assert not failures, f"{len(failures)} operations:\n" + "\n\n".join(failures)
