"""Cloud benchmark: a load balancer's life against the mini-openstack's real Keystone, Nova and
Neutron, with the cloud tests' deployment (tests/cloud/test_cloud_load_balancer.py: Ottava's
API behind Keystone, `compute_driver = nova`, `network_driver = neutron`, nova-compute running
the amphora virt driver, whose servers are network namespaces: no boot time).

Measured, `--repeats` times:

  create -> ACTIVE  POST of a fully populated load balancer (an HTTP listener, a pool with one
                    member) as the tenant's user -> ACTIVE.
  calls             the requests Ottava sent to Nova, Neutron, Glance and Keystone during that
                    create, counted in the services' access logs by Ottava's User-Agent.
  -> HTTP           the VIP serves the member.
  failover          the amphora's server deleted behind Ottava's back (Nova's API, as an
                    operator would) -> the VIP serves again, from a new amphora, and -> ACTIVE.
  delete            DELETE ?cascade -> the load balancer is gone.

Prints each run and the medians; never asserts. A VM's boot is what the fake hypervisor leaves
out: tools/amphora-image/boot_test.py times the real image's boot to its agent under QEMU, and
tests/cloud boots it through Nova from Glance.

    .venv/bin/python bench/cloud.py [--repeats N]
      (as root, with the mini-openstack running: ../shared/mini-openstack/setup.sh, run.sh)
"""

from __future__ import annotations

import argparse
import pathlib
import re
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cloud import conftest as cloud_conftest  # noqa: E402
from tests.cloud import test_cloud_load_balancer as cloud  # noqa: E402
from tests.harness import eventually  # noqa: E402

LOGS = cloud_conftest.ROOT / "logs"
SERVICES = {"nova": "nova-api-access.log", "neutron": "neutron-access.log",
            "glance": "glance-access.log", "keystone": "keystone-access.log"}
OURS = re.compile(r'"ottava[ /][^"]*"\s*$')  # the User-Agent field, last on the line


def lines_of(service: str) -> list[str]:
    path = LOGS / SERVICES[service]
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def calls_since(marks: dict[str, int]) -> dict[str, int]:
    """Ottava's requests per service since `marks` (line counts of the access logs)."""
    return {service: sum(1 for line in lines_of(service)[marks[service]:] if OURS.search(line))
            for service in SERVICES}


def one_run(deployment: cloud.CloudDeployment, ottava: cloud.Ottava) -> dict[str, float]:
    api, admin = ottava.api, ottava.admin
    member = cloud.Backend("member")
    try:
        marks = {service: len(lines_of(service)) for service in SERVICES}
        started = time.monotonic()
        created = api.post(cloud.LB, cloud.web_load_balancer(deployment, "bench",
                                                             member.port))
        if created.status_code != 201:
            raise SystemExit(f"create refused: {created.status_code} {created.text}")
        lb_id = created.json()["loadbalancer"]["id"]
        lb = api.wait(f"{cloud.LB}/{lb_id}", "loadbalancer", timeout=300)
        figures: dict[str, float] = {"create_active_s": time.monotonic() - started}
        calls = calls_since(marks)
        vip = lb["vip_address"]
        eventually(lambda: cloud.answer(vip) == "member", 120, f"HTTP through {vip}")
        figures["http_s"] = time.monotonic() - started
        figures.update({f"calls_{service}": float(n) for service, n in calls.items()})

        (old,) = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()["amphorae"]
        killed = time.monotonic()
        deployment.admin.compute.delete_server(old["compute_id"])

        def serving_again() -> bool:
            live = [a for a in admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")
                    .json()["amphorae"] if a["status"] == "ALLOCATED"]
            return len(live) == 1 and live[0]["id"] != old["id"] and \
                cloud.answer(vip) == "member"

        eventually(serving_again, 300, "the VIP served by a new amphora")
        figures["failover_http_s"] = time.monotonic() - killed
        api.wait(f"{cloud.LB}/{lb_id}", "loadbalancer", timeout=300)
        figures["failover_active_s"] = time.monotonic() - killed

        deleting = time.monotonic()
        api.delete(f"{cloud.LB}/{lb_id}?cascade=true")
        api.wait_gone(f"{cloud.LB}/{lb_id}", timeout=300)
        figures["delete_s"] = time.monotonic() - deleting
        return figures
    finally:
        member.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    problem = cloud_conftest.cloud_missing()
    if problem:
        raise SystemExit(f"no cloud: {problem}")
    runs = []
    with cloud.cloud_deployment(print_logs=False) as deployment, \
            cloud.running_ottava(deployment) as ottava:
        for run in range(1, args.repeats + 1):
            figures = one_run(deployment, ottava)
            runs.append(figures)
            print(f"run {run}: " + ", ".join(f"{k} {v:.2f}" if k.endswith("_s") else
                                           f"{k} {v:.0f}" for k, v in figures.items()))
    print("median:")
    for key in runs[0]:
        value = statistics.median(r[key] for r in runs)
        print(f"  {key:20} {value:8.2f}" if key.endswith("_s") else f"  {key:20} {value:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
