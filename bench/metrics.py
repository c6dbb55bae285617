"""Metrics benchmark: what Prometheus metrics cost the API, and what one scrape costs.

Two `ottava standalone --noop` run side by side, one with `[metrics] enabled = false`; both
get the same number of load balancers. GET of one load balancer is then timed against both in
alternating rounds (each round starts with the other one), so that whatever the machine does
meanwhile falls on both alike: one after the other, the second server measured ran up to 20 %
slower whichever it was. It prints:

- GET one LB p50 with and without metrics, and the overhead in percent (issue 15's goal:
  under 5 %);
- the two instruments' cost per request, timed in this process (a counter and a histogram
  observed, as the API's middleware does);
- GET /metrics p50 with the load balancers in the database (the fleet read at each scrape).

It asserts nothing and stops what it started.

    .venv/bin/python bench/metrics.py                   # 1,000 LBs, 20 rounds of 300 GETs
    .venv/bin/python bench/metrics.py --lbs 200 --rounds 6   # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import pathlib
import shutil
import sys
import tempfile
import time
from types import ModuleType

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def _bench_api() -> ModuleType:
    """bench/api.py, whose deployments and HTTP client this benchmark reuses."""
    spec = importlib.util.spec_from_file_location("ottava_bench_api", HERE / "api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


api = _bench_api()


def instruments_per_request(count: int = 100_000) -> float:
    """Microseconds the API's middleware spends in prometheus_client per request."""
    from ottava.metrics import Registry

    registry = Registry()
    route = "/v2/lbaas/loadbalancers/{ident}"
    started = time.perf_counter()
    for _ in range(count):
        registry.api_seconds.labels("GET", route).observe(0.001)
        registry.api_requests.labels("GET", route, "200").inc()
    return (time.perf_counter() - started) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lbs", type=int, default=1000, help="load balancers in each (1000)")
    p.add_argument("--rounds", type=int, default=20, help="alternating rounds (20)")
    p.add_argument("--per-round", type=int, default=300, help="GETs per round and side (300)")
    p.add_argument("--scrapes", type=int, default=50, help="timed GET /metrics (50)")
    args = p.parse_args(argv)
    # What bench/api.py's deployments and phases read.
    args.set, args.poll = [], 0.002
    args.start_timeout, args.stop_timeout, args.request_timeout = 90.0, 15.0, 60.0
    args.item_timeout, args.bulk_timeout, args.phase_timeout = 20.0, 1800.0, 600.0

    print(f"source: {api.source_version()}", flush=True)
    problems = api.Problems()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ottava-bench-metrics-"))
    try:
        with contextlib.ExitStack() as stack:
            with_metrics = stack.enter_context(api.standalone(args, tmp, metrics=True))
            without = stack.enter_context(api.standalone(args, tmp, metrics=False))
            sides = {dep.name: (dep, api.Http("127.0.0.1", dep.port, problems, dep.name,
                                              timeout=args.request_timeout))
                     for dep in (with_metrics, without)}
            targets = {}
            for name, (_, http) in sides.items():
                print(f"== {name}: {args.lbs} load balancers", flush=True)
                api.phase_bulk(http, args, {})
                lb = api.create_lb(http, "bench-target")
                api.wait_status(http, f"{api.LB}/{lb['id']}", "loadbalancer",
                                api.deadline_after(args.item_timeout), args.poll)
                targets[name] = f"{api.LB}/{lb['id']}"
            latencies: dict[str, list[float]] = {name: [] for name in sides}
            deadline = api.deadline_after(args.phase_timeout)
            names = list(sides)
            for round_ in range(args.rounds):
                for name in names if round_ % 2 == 0 else reversed(names):
                    lat, _ = api.timed_gets(sides[name][1], targets[name], args.per_round,
                                            deadline)
                    latencies[name] += lat
            scrapes, _ = api.timed_gets(sides[with_metrics.name][1], "/metrics",
                                        args.scrapes, deadline)
            for _, http in sides.values():
                http.close()
    except BaseException:
        print(f"logs in {tmp}", flush=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)

    p50 = {name: api.percentile(lat, 50) * 1e3 for name, lat in latencies.items()}
    on, off = p50[with_metrics.name], p50[without.name]
    print()
    print(f"GET one LB p50 with metrics:      {on:.3f} ms ({len(latencies[with_metrics.name])} "
          "requests)")
    print(f"GET one LB p50 without metrics:   {off:.3f} ms ({len(latencies[without.name])} "
          "requests)")
    print(f"metrics overhead:                 {(on / off - 1) * 100:+.1f} % (goal under 5 %)")
    print(f"instruments per request:          {instruments_per_request():.1f} us "
          "(in-process, a counter and a histogram)")
    if scrapes:
        print(f"GET /metrics p50 ({args.lbs + 1} LBs): {api.percentile(scrapes, 50) * 1e3:.1f} ms")
    problems.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
