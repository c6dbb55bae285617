"""`bootstrap.tune_collector`, run in a process of its own (it changes the collector of the
process it runs in): the start-up heap frozen, young collections spaced out, the older
generations' thresholds as Python has them."""

from __future__ import annotations

import json
import subprocess
import sys

from ottava import bootstrap

SCRIPT = """
import gc, json
before = gc.get_threshold()
from ottava import bootstrap
bootstrap.tune_collector()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_the_start_up_heap_is_frozen_and_young_collections_spaced_out() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    seen = json.loads(out)
    assert seen["frozen"] > 10_000, "the modules imported so far are out of the collector's sight"
    assert seen["after"][0] == bootstrap.YOUNG_COLLECTION_THRESHOLD > seen["before"][0]
    assert seen["after"][1:] == seen["before"][1:]
