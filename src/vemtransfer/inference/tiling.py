"""One global window grid over a volume, cut into blocks of windows.

Whole-volume prediction must give every voxel the same blended windows whatever the
output chunking and however many jobs share the work, and must run each window exactly
once. So the windows are fixed first, on the whole volume (the grid ``infer.predict_volume``
uses: same starts, patch and overlap), and only then grouped: a *block* is a box of
consecutive windows (``k`` per axis). A block's *footprint* is the union of its windows
(clipped to the volume); neighbouring footprints overlap by a window's overlap, and the
voxels there are finished by summing the blocks' partial sums (see ``volume.py``).

Pure arithmetic, no torch or I/O: the Snakefile and the jobs plan with it alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vemtransfer.core.boxes import Box


def window_starts(n: int, p: int, overlap: float) -> list[int]:
    """Window starts covering ``[0, n)`` with windows of ``p`` overlapping by ``overlap``;
    the last window is flush with the far edge."""
    if n <= p:
        return [0]
    step = max(1, int(round(p * (1 - overlap))))
    starts = list(range(0, n - p + 1, step))
    if starts[-1] != n - p:
        starts.append(n - p)
    return starts


@dataclass(frozen=True)
class WindowGrid:
    """The sliding windows over a ``shape`` volume: per axis starts of ``patch``-sized windows.

    An axis shorter than the patch gets one window over the volume mirror-padded to the
    patch (as ``predict_volume`` pads); ``padded`` is that shape.
    """

    shape: tuple[int, int, int]
    patch: tuple[int, int, int]
    overlap: float

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or len(self.patch) != 3:
            raise ValueError(f"need a (z, y, x) volume and patch; got {self.shape}, {self.patch}")
        if min(self.shape) < 1 or min(self.patch) < 1:
            raise ValueError(f"volume {self.shape} and patch {self.patch} must be positive")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    @classmethod
    def of(cls, shape: Sequence[int], patch: Sequence[int], overlap: float) -> WindowGrid:
        return cls(tuple(int(n) for n in shape), tuple(int(p) for p in patch), float(overlap))  # type: ignore[arg-type]

    @property
    def starts(self) -> list[list[int]]:
        return [window_starts(n, p, self.overlap) for n, p in zip(self.shape, self.patch)]

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(max(n, p) for n, p in zip(self.shape, self.patch))

    @property
    def count(self) -> int:
        return math.prod(len(s) for s in self.starts)

    def windows(self, index_box: Box | None = None) -> list[tuple[int, int, int]]:
        """Window starts (z, y, x) in C order; only window indices in ``index_box`` when given."""
        starts = self.starts
        ranges = index_box or tuple((0, len(s)) for s in starts)
        return list(itertools.product(*[s[a:b] for s, (a, b) in zip(starts, ranges)]))  # type: ignore[return-value]

    def windows_touching(self, box: Box) -> list[tuple[int, int, int]]:
        """Starts of the windows that overlap ``box``, in C order."""
        hit = [[s for s in ax if s < hi and s + p > lo] for ax, (lo, hi), p in zip(self.starts, box, self.patch)]
        return list(itertools.product(*hit))  # type: ignore[return-value]


@dataclass(frozen=True)
class BlockPlan:
    """The window grid cut into blocks of at most ``per_block`` windows per axis.

    ``block_zyx`` (voxels) bounds a block's footprint: the most windows per axis whose union
    fits in it, at least one. Blocks are numbered in C order; ``job_blocks`` deals them to
    ``jobs`` parallel jobs in contiguous runs.
    """

    grid: WindowGrid
    per_block: tuple[int, int, int]

    @classmethod
    def of(cls, grid: WindowGrid, block_zyx: Sequence[int]) -> BlockPlan:
        if len(block_zyx) != 3 or min(block_zyx) < 1:
            raise ValueError(f"block must be 3 positive sizes (z, y, x), got {list(block_zyx)}")
        per = []
        for starts, p, b in zip(grid.starts, grid.patch, block_zyx):
            k = 1
            while k < len(starts) and starts[k] + p - starts[0] <= b:
                k += 1
            per.append(k)
        return cls(grid, tuple(per))  # type: ignore[arg-type]

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(math.ceil(len(s) / k) for s, k in zip(self.grid.starts, self.per_block))

    @property
    def count(self) -> int:
        return math.prod(self.counts)

    def block_index(self, block: int) -> tuple[int, int, int]:
        return tuple(int(i) for i in divmod_all(block, self.counts))  # type: ignore[return-value]

    def window_indices(self, block: int) -> Box:
        """Per axis the range of window indices of ``block``."""
        return tuple((i * k, min((i + 1) * k, len(s)))
                     for i, k, s in zip(self.block_index(block), self.per_block, self.grid.starts))

    def footprint(self, block: int) -> Box:
        """Voxels (clipped to the volume) that the windows of ``block`` cover."""
        starts, shape = self.grid.starts, self.grid.shape
        return tuple((s[a], min(s[b - 1] + p, n))
                     for s, (a, b), p, n in zip(starts, self.window_indices(block), self.grid.patch, shape))

    def blocks_touching(self, box: Box) -> list[int]:
        """Blocks whose footprint overlaps ``box``, in C order (the order partial sums are added).

        Found per axis: footprints are products of per-axis intervals."""
        per_axis = []
        for axis, (lo, hi) in enumerate(box):
            starts, k, p, n = self.grid.starts[axis], self.per_block[axis], self.grid.patch[axis], self.grid.shape[axis]
            hits = []
            for i in range(self.counts[axis]):
                a, b = i * k, min((i + 1) * k, len(starts))
                if starts[a] < hi and min(starts[b - 1] + p, n) > lo:
                    hits.append(i)
            per_axis.append(hits)
        nz, ny, nx = self.counts
        return [(i * ny + j) * nx + m for i, j, m in itertools.product(*per_axis)]

    def job_blocks(self, job: int, jobs: int) -> range:
        """The blocks of job ``job`` (0-based) of ``jobs``: a contiguous run, sizes differing by at most one."""
        if not 0 <= job < jobs:
            raise ValueError(f"job {job} is not in 0..{jobs - 1}")
        return range(job * self.count // jobs, (job + 1) * self.count // jobs)

    def blocks(self) -> Iterator[int]:
        return iter(range(self.count))


def divmod_all(index: int, counts: Sequence[int]) -> list[int]:
    """C-order multi-index of a flat ``index`` into a grid of ``counts``."""
    out = []
    for n in reversed(counts):
        index, r = divmod(index, n)
        out.append(r)
    return out[::-1]


def read_padded(image: Any, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
    """Input ``[lo, hi)``; where ``hi`` passes the volume (an axis shorter than one patch, so
    ``lo`` is 0 there) it is padded symmetrically exactly as ``predict_volume`` pads."""
    shape = image.shape
    block = np.asarray(image[tuple(slice(a, min(b, n)) for a, b, n in zip(lo, hi, shape))])
    if block.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (z, y, x), got {block.dtype}")
    pad = [(0, max(0, b - n)) for b, n in zip(hi, shape)]
    return np.pad(block, pad, mode="symmetric") if any(p for _, p in pad) else block
