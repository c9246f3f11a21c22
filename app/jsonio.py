"""JSON from outside, read strictly: a key given twice is refused (which one would win is a guess), and
so, where asked, are NaN and Infinity, which Python's json takes but JSON does not have."""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes, *, constants: bool = True) -> Any:
    """json.loads refusing duplicate keys, and with ``constants=False`` NaN/Infinity (ValueError saying
    what is wrong; RecursionError for nesting without end, as json raises it)."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"the key {k[:100]!r} is given twice")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    return json.loads(data, object_pairs_hook=pairs, **({} if constants else {"parse_constant": constant}))
