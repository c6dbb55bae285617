"""The agent's listener counters (`ottava.agent.heartbeat.Counters`): totals that keep growing
across HAProxy reloads (counters seen going backwards start a new generation), `before_reload`
folding the current generation in, persistence to the JSON file across agent restarts (a new
`Counters` on the same path), a deleted listener dropped, and active_connections reported as a
gauge (the current value, never summed across generations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ottava.agent.heartbeat import Counters

L1, L2 = "listener-1", "listener-2"


def row(bin_: int, bout: int, stot: int, ereq: int = 0, scur: int = 0) -> dict[str, Any]:
    """A `HAProxy.stats()["listeners"]` row (strings, as `show stat` gives them, and extra
    columns that must be ignored)."""
    return {"bin": str(bin_), "bout": str(bout), "stot": str(stot), "ereq": str(ereq),
            "scur": str(scur), "status": "OPEN", "pxname": "x"}


def totals(bytes_in: int, bytes_out: int, total: int, errors: int = 0, active: int = 0
           ) -> dict[str, int]:
    return {"bytes_in": bytes_in, "bytes_out": bytes_out, "total_connections": total,
            "request_errors": errors, "active_connections": active}


def test_first_reading_is_the_total(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    assert c.totals({L1: row(100, 200, 3, 1, 2)}) == {L1: totals(100, 200, 3, 1, 2)}


def test_totals_follow_a_growing_generation(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 200, 3)})
    assert c.totals({L1: row(150, 260, 5)}) == {L1: totals(150, 260, 5)}


def test_totals_accumulate_across_a_reload_seen_as_counters_going_backwards(
        tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 200, 3, 1)})
    c.totals({L1: row(150, 260, 5, 1)})
    # The reload: a new worker starts from zero.
    assert c.totals({L1: row(10, 20, 1, 0)}) == {L1: totals(160, 280, 6, 1)}
    assert c.totals({L1: row(40, 50, 2, 0)}) == {L1: totals(190, 310, 7, 1)}
    # A second reload.
    assert c.totals({L1: row(5, 5, 1, 2)}) == {L1: totals(195, 315, 8, 3)}


def test_one_counter_going_backwards_is_enough_to_detect_a_reload(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 200, 3)})
    # bytes grew past the old values in the new generation, but connections went back.
    assert c.totals({L1: row(500, 600, 1)}) == {L1: totals(600, 800, 4)}


def test_before_reload_folds_the_current_generation(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 200, 3, 1)})
    c.before_reload({L1: row(120, 230, 4, 1)})
    # The new generation, already past the old one's values: no backwards step to see, and
    # nothing counted twice or lost.
    assert c.totals({L1: row(130, 240, 5, 0)}) == {L1: totals(250, 470, 9, 1)}
    assert c.totals({L1: row(131, 241, 6, 0)}) == {L1: totals(251, 471, 10, 1)}


def test_before_reload_then_a_fresh_generation(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 200, 3)})
    c.before_reload({L1: row(100, 200, 3)})
    assert c.totals({L1: row(0, 0, 0)}) == {L1: totals(100, 200, 3)}
    assert c.totals({L1: row(7, 8, 1)}) == {L1: totals(107, 208, 4)}


def test_before_reload_persists_and_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "state" / "counters.json"  # its folder does not exist yet
    c = Counters(path)
    c.totals({L1: row(100, 200, 3, 1)})
    c.before_reload({L1: row(100, 200, 3, 1)})
    assert path.exists()
    saved = json.loads(path.read_text())
    assert saved["base"][L1]["bytes_in"] == 100

    restarted = Counters(path)  # the agent restarted, HAProxy reloaded meanwhile
    assert restarted.totals({L1: row(10, 20, 1, 0)}) == {L1: totals(110, 220, 4, 1)}


def test_a_reload_seen_going_backwards_persists(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    c = Counters(path)
    c.totals({L1: row(100, 200, 3)})
    c.totals({L1: row(10, 20, 1)})  # reload detected: base = 100/200/3
    restarted = Counters(path)
    assert restarted.totals({L1: row(11, 21, 1)}) == {L1: totals(111, 221, 4)}


def test_a_missing_or_corrupt_file_starts_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    path.write_text("{not json")
    c = Counters(path)
    assert c.totals({L1: row(1, 2, 3)}) == {L1: totals(1, 2, 3)}
    path.write_text("[]")
    assert Counters(path).totals({L1: row(1, 2, 3)}) == {L1: totals(1, 2, 3)}
    path.unlink()
    assert Counters(path).totals({L1: row(1, 2, 3)}) == {L1: totals(1, 2, 3)}


def test_a_state_file_of_another_shape_does_not_stop_the_agent(tmp_path: Path) -> None:
    """Valid JSON without the expected keys (an older agent's file with fewer counters, or no
    "last"): the constructor must not raise, since the Sender, and with it the agent, is
    built from it; starting from zero is the documented fallback."""
    path = tmp_path / "counters.json"
    path.write_text(json.dumps({"base": {}}))  # no "last"
    assert Counters(path).totals({L1: row(1, 2, 3)}) == {L1: totals(1, 2, 3)}
    path.write_text(json.dumps({"base": {L1: {"bytes_in": 1}}, "last": {}}))  # fewer counters
    assert Counters(path).totals({L1: row(1, 2, 3)})[L1]["total_connections"] == 3


def test_a_deleted_listener_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    c = Counters(path)
    c.totals({L1: row(100, 200, 3), L2: row(50, 60, 2)})
    c.before_reload({L1: row(100, 200, 3), L2: row(50, 60, 2)})
    out = c.totals({L1: row(1, 1, 1)})  # L2 deleted
    assert set(out) == {L1}
    assert L2 not in c.base and L2 not in c.last
    saved = json.loads(path.read_text())
    assert L2 not in saved["base"] and L2 not in saved["last"]
    # A listener of that id coming back (e.g. re-created) starts from zero.
    assert c.totals({L1: row(2, 2, 2), L2: row(5, 6, 1)})[L2] == totals(5, 6, 1)
    # And the restarted agent agrees.
    assert L2 not in Counters(path).base


def test_listeners_are_independent(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    c.totals({L1: row(100, 100, 10), L2: row(5, 5, 1)})
    # Only L1's worker went back (e.g. L2 idle): L2 is not reset, L1 accumulates.
    out = c.totals({L1: row(1, 1, 1), L2: row(6, 6, 1)})
    assert out == {L1: totals(101, 101, 11), L2: totals(6, 6, 1)}


def test_active_connections_is_a_gauge(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    assert c.totals({L1: row(100, 200, 30, scur=25)})[L1]["active_connections"] == 25
    assert c.totals({L1: row(110, 210, 31, scur=4)})[L1]["active_connections"] == 4
    c.before_reload({L1: row(110, 210, 31, scur=4)})
    # After a reload the new worker's current value, not added to the old worker's.
    after = c.totals({L1: row(1, 1, 1, scur=3)})[L1]
    assert after["active_connections"] == 3
    assert after["total_connections"] == 32
    # A reload seen going backwards: still the gauge alone.
    assert c.totals({L1: row(0, 0, 0, scur=9)})[L1]["active_connections"] == 9
    # And it is never persisted as part of a base.
    saved = json.loads((tmp_path / "counters.json").read_text())
    assert "active_connections" not in saved["base"][L1]


def test_missing_columns_count_as_zero(tmp_path: Path) -> None:
    c = Counters(tmp_path / "counters.json")
    assert c.totals({L1: {"bin": "5"}}) == {L1: totals(5, 0, 0)}
