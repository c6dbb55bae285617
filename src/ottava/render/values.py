"""The checks every renderer runs on values before they reach a configuration file: each value
is parsed and printed again, so what is written is exactly what was meant, or ValueError."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HEX = re.compile(r"[0-9a-f]{0,128}")


def ident(value: Any, what: str) -> str:
    """An object id: letters, digits, `_`, `.` and `-`, at most 64; safe as a name anywhere."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not an id")
    return value


def integer(value: Any, what: str, low: int, high: int | None) -> int:
    """An int (not a bool) from `low` to `high` (None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{what} {value} is out of range")
    return value


def hexadecimal(value: Any) -> str:
    """A spec hash: lower-case hex digits."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ValueError(f"spec hash {value!r} is not hexadecimal")
    return value


def address(value: Any, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address of either family."""
    try:
        return ipaddress.ip_address(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not an IP address") from None
