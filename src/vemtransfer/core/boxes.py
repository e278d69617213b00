"""Boxes of a volume (per axis ``(start, stop)``): tiling a shape, intersecting, slicing.

The one description of "cut a volume into chunks" that every layer uses: label-budget cells in
training data, output chunks and blocks in prediction, chunked labelling.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

Box = tuple[tuple[int, int], ...]
"""Per axis ``(start, stop)``."""


def chunk_boxes(shape: Sequence[int], chunk: Sequence[int]) -> list[Box]:
    """Boxes of ``chunk`` tiling ``shape`` in C order (the last ones clipped to the volume)."""
    axes = [[(s, min(s + c, n)) for s in range(0, n, c)] for n, c in zip(shape, chunk)]
    return list(itertools.product(*axes))


def box_slices(box: Box, origin: Sequence[int] = (0, 0, 0)) -> tuple[slice, ...]:
    """``box`` as slices, relative to ``origin``."""
    return tuple(slice(a - o, b - o) for (a, b), o in zip(box, origin))


def intersect(a: Box, b: Box) -> Box | None:
    """The common part of two boxes, or None when they do not overlap."""
    box = tuple((max(a0, b0), min(a1, b1)) for (a0, a1), (b0, b1) in zip(a, b))
    return box if all(lo < hi for lo, hi in box) else None
