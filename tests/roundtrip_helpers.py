"""Exact comparison of live and stored values, shared by the round-trip, noise and rerun tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_identical(live: Any, stored: Any, where: str = "value") -> None:
    """Assert ``stored`` is ``live`` again: same types all the way down, same values exactly
    (arrays bit for bit, no tolerance)."""
    assert type(stored) is type(live), f"{where}: {type(stored)} is not {type(live)}"
    if isinstance(live, np.ndarray):
        assert live.dtype == stored.dtype and live.shape == stored.shape, where
        assert np.array_equal(live, stored, equal_nan=live.dtype.kind in "fc"), where
    elif isinstance(live, dict):
        assert list(live) == list(stored), f"{where}: keys {list(stored)} != {list(live)}"
        for key in live:
            assert_identical(live[key], stored[key], f"{where}[{key!r}]")
    elif isinstance(live, (list, tuple)):
        assert len(live) == len(stored), f"{where}: length"
        for i, (a, b) in enumerate(zip(live, stored)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(live, (str, bytes, int, float, complex, bool, np.generic)) or live is None:
        assert live == stored or (live != live and stored != stored), f"{where}: {stored} != {live}"
    elif hasattr(live, "__dict__"):
        assert_identical(vars(live), vars(stored), f"{where}.__dict__")
    else:
        assert live == stored, f"{where}: {stored!r} != {live!r}"


def assert_same_result(live: Any, stored: Any) -> None:
    """A stored ``Result`` equals the live one: every experiment's data, header and metadata."""
    assert_identical(live.to_dict(), stored.to_dict(), "result")
    for i in range(len(live.results)):
        assert_identical(live.data(i), stored.data(i), f"data({i})")
        assert_identical(live.results[i].metadata, stored.results[i].metadata, f"metadata({i})")
