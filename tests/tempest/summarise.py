"""Summarise a tempest run (a subunit v2 stream, e.g. `stestr last --subunit`) per test class.

Run with .venv-tempest's Python (python-subunit and testtools come with tempest):

    stestr last --subunit | .venv-tempest/bin/python tests/tempest/summarise.py \
        [--title MODE] [--failures FILE] [--skips FILE]

Prints one line per class (passed, failed, skipped), then a total line
`<title>: N passed, N failed, N skipped`. With --failures it writes every failed test's id
and the end of its traceback; with --skips, the skip reasons and how many tests gave each.
A `setUpClass (module.Class)` failure counts as one failure of that class. Exits 1 when a
test failed or none ran, so a caller can tell.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from typing import Any

import subunit
import testtools

PASSED = {"success", "xfail"}
FAILED = {"fail", "uxsuccess"}
SKIPPED = {"skip"}
FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((?P<cls>[^)]+)\)$")
PREFIX = "octavia_tempest_plugin.tests."


def test_class(test_id: str) -> str:
    """`a.b.Class.test_x[id-…,smoke]` -> `a.b.Class`; fixtures name their class in brackets."""
    m = FIXTURE.match(test_id)
    if m:
        return m.group("cls")
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def detail_text(details: dict[str, Any], name: str) -> str:
    content = details.get(name)
    if content is None:
        return ""
    return b"".join(content.iter_bytes()).decode("utf-8", errors="replace")


def read(stream: Any) -> list[dict[str, Any]]:
    """Every finished test of the stream: {id, status, details}."""
    tests: list[dict[str, Any]] = []
    case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
    result = testtools.StreamToDict(tests.append)
    result.startTestRun()
    try:
        case.run(result)
    finally:
        result.stopTestRun()
    return [t for t in tests if t["status"] not in {"exists", "inprogress"} and t["id"]]


def summarise(tests: list[dict[str, Any]], title: str) -> tuple[str, int, int]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for t in tests:
        kind = ("passed" if t["status"] in PASSED else "failed" if t["status"] in FAILED
                else "skipped" if t["status"] in SKIPPED else t["status"])
        counts[test_class(t["id"])][kind] += 1
    width = max([len(c.removeprefix(PREFIX)) for c in counts] + [5])
    lines = [f"{'class'.ljust(width)}  passed  failed  skipped"]
    total: Counter[str] = Counter()
    for cls in sorted(counts):
        c = counts[cls]
        total.update(c)
        lines.append(f"{cls.removeprefix(PREFIX).ljust(width)}  {c['passed']:6d}  "
                     f"{c['failed']:6d}  {c['skipped']:7d}")
    lines.append(f"{title}: {total['passed']} passed, {total['failed']} failed, "
                 f"{total['skipped']} skipped")
    return "\n".join(lines), total["failed"], sum(total.values())


def failures(tests: list[dict[str, Any]]) -> str:
    out = []
    for t in sorted(tests, key=lambda t: t["id"]):
        if t["status"] not in FAILED:
            continue
        trace = detail_text(t["details"], "traceback").strip().splitlines()
        out.append(f"=== {t['id']}\n" + "\n".join(trace[-25:]) + "\n")
    return "\n".join(out)


def skips(tests: list[dict[str, Any]]) -> str:
    reasons: Counter[str] = Counter()
    for t in tests:
        if t["status"] in SKIPPED:
            reason = detail_text(t["details"], "reason").strip() or "(no reason given)"
            reasons[f"{test_class(t['id']).removeprefix(PREFIX)}: {reason}"] += 1
    return "\n".join(f"{n:4d}  {reason}" for reason, n in reasons.most_common())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--title", default="tempest")
    parser.add_argument("--failures", help="write failed tests and tracebacks here")
    parser.add_argument("--skips", help="write skip reasons here")
    parser.add_argument("stream", nargs="?", help="subunit v2 file (default: stdin)")
    args = parser.parse_args(argv)
    if args.stream:
        with open(args.stream, "rb") as fh:
            tests = read(fh)
    else:
        tests = read(sys.stdin.buffer)
    table, failed, ran = summarise(tests, args.title)
    print(table)
    if args.failures:
        with open(args.failures, "w") as fh:
            fh.write(failures(tests))
    if args.skips:
        with open(args.skips, "w") as fh:
            fh.write(skips(tests))
    return 1 if failed or not ran else 0


if __name__ == "__main__":
    sys.exit(main())
