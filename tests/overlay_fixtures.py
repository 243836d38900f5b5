"""Helpers for the overlay tests: reading a stamp back out of a decoded picture.

A plain module (not a conftest) so any test file can import it.
"""

from __future__ import annotations

import numpy as np

from appliance.overlay import Stamp


def stamp_luma(y: np.ndarray, stamp: Stamp) -> tuple[float, float]:
    """Mean luma of a decoded frame at a stamp's text pixels and at its outline's."""
    fill = y[stamp.fill_rows, stamp.fill_cols].astype(float).mean()
    edge = y[stamp.edge_rows, stamp.edge_cols].astype(float).mean()
    return fill, edge


def only_in(stamp: Stamp, other: Stamp) -> tuple[list[int], list[int]]:
    """The text pixels of ``stamp`` that are not text pixels of ``other``."""
    taken = set(zip(other.fill_rows, other.fill_cols, strict=True))
    left = [p for p in zip(stamp.fill_rows, stamp.fill_cols, strict=True) if p not in taken]
    return [r for r, _ in left], [c for _, c in left]
