"""Connected components of a binary mask larger than memory, one chunk at a time.

Each chunk is labelled alone (scipy), then the labels that touch across chunk faces are merged
with a union-find and renumbered in raster order (how ``skimage.measure.label`` numbers them), so
the result equals a whole-volume labelling while memory stays bounded by a few chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vemtransfer.core.boxes import box_slices, chunk_boxes

Slices = tuple[slice, slice, slice]


# ---------------------------------------------------------------------------- validation


def check_volume(array: Any, what: str) -> tuple[int, int, int]:
    """The (z, y, x) shape of ``array``; anything else is a caller error worth naming."""
    shape = tuple(int(s) for s in array.shape)
    if len(shape) != 3:
        raise ValueError(f"{what} must be a 3-D (z, y, x) volume, got shape {shape}")
    return shape  # type: ignore[return-value]


def check_triple(values: Sequence[float], what: str) -> tuple[float, float, float]:
    """Three positive numbers (voxel size, chunk shape): a 2-tuple or a zero would silently
    give wrong volumes or an endless chunk loop."""
    try:
        triple = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x), got {values!r}") from None
    if len(triple) != 3 or not all(np.isfinite(v) and v > 0 for v in triple):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x), got {values!r}")
    return triple  # type: ignore[return-value]


def check_chunk(chunk_zyx: Sequence[int]) -> tuple[int, int, int]:
    chunk = check_triple(chunk_zyx, "chunk_zyx")
    if not all(c.is_integer() for c in chunk):
        raise ValueError(f"chunk_zyx must be 3 positive integers, got {chunk_zyx!r}")
    return tuple(int(c) for c in chunk)  # type: ignore[return-value]


def _read_binary(mask: Any, sl: Slices) -> np.ndarray:
    """One chunk of the mask as bool, refusing anything but 0/1: a probability map or a
    label image passed by mistake would otherwise be thresholded at "non-zero" silently."""
    block = np.asarray(mask[sl])
    if block.dtype != bool and np.any((block != 0) & (block != 1)):
        bad = block[(block != 0) & (block != 1)].flat[0].item()
        start = tuple(s.start for s in sl)
        raise ValueError(
            f"mask must be binary (0/1), found value {bad!r} in the chunk at {start}; "
            "threshold probabilities or binarise a label image first"
        )
    return block.astype(bool, copy=False)


# ---------------------------------------------------------------------------- chunk grid


def chunks(shape: Sequence[int], chunk: Sequence[int]) -> Iterator[Slices]:
    """Slices of every chunk, in C order of the chunk grid; edge chunks are cut short."""
    for box in chunk_boxes(shape, [int(c) for c in chunk]):
        yield box_slices(box)  # type: ignore[misc]


# ---------------------------------------------------------------------------- labelling


class _UnionFind:
    """Union-find over the provisional label ids that meet across chunk faces.

    Only ids that take part in an equivalence are stored (a dict, not an array over all
    ids), and every set is rooted at its smallest id."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        parent = self.parent
        root = a
        while parent.get(root, root) != root:
            root = parent[root]
        while a != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self, n: int) -> np.ndarray:
        """Root of every id 0..n as an array (ids never unioned are their own root)."""
        roots = np.arange(n + 1, dtype=np.int64)
        for a in self.parent:
            roots[a] = self.find(a)
        return roots


def _neighbour_offsets(connectivity: int) -> list[tuple[int, int]]:
    """In-plane offsets (dy, dx) that, with one step across the face, stay within
    ``connectivity`` (the number of axes a neighbour may differ in, as in skimage)."""
    return [d for d in itertools.product((-1, 0, 1), repeat=2) if 1 + np.count_nonzero(d) <= connectivity]


def _shifted(n: int, d: int) -> tuple[slice, slice]:
    """Slices pairing index i of one plane with i + d of the other, both inside 0..n-1."""
    return slice(max(0, -d), n - max(0, d)), slice(max(0, d), n - max(0, -d))


def _face_pairs(out: Any, sl: Slices, axis: int, shape: Sequence[int], connectivity: int) -> np.ndarray:
    """Pairs of different provisional labels that touch across the low face of one chunk.

    Reads a two-voxel slab of ``out`` straddling the face (last plane of the previous chunk,
    first plane of this one), widened by one voxel in the other axes when diagonal
    neighbours count, so that pairs crossing an edge or corner are seen too. Every
    adjacent pair of voxels in different chunks differs by one step along some axis at a
    chunk boundary, so the low faces of all chunks cover all of them.
    """
    pad = 1 if connectivity > 1 else 0
    start = sl[axis].start
    slab = [slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(sl, shape)]
    slab[axis] = slice(start - 1, start + 1)
    block = np.moveaxis(np.asarray(out[tuple(slab)]), axis, 0)
    below, above = block[0], block[1]
    pairs = []
    for dy, dx in _neighbour_offsets(connectivity):
        (ya, yb), (xa, xb) = _shifted(below.shape[0], dy), _shifted(below.shape[1], dx)
        a, b = below[ya, xa].ravel(), above[yb, xb].ravel()
        touch = (a != 0) & (b != 0) & (a != b)
        pairs.append(np.stack([a[touch], b[touch]], axis=1))
    return np.unique(np.concatenate(pairs).astype(np.int64), axis=0)


def _first_voxels(local: np.ndarray, sl: Slices, shape: Sequence[int]) -> np.ndarray:
    """Global raster (C-order) index of the first voxel of each local label 1..n.

    Raster order within a chunk is raster order within the volume (a translation keeps
    the lexicographic (z, y, x) order), so the first voxel in the chunk is the object's
    first voxel among those the chunk holds."""
    flat = local.ravel()
    where = np.flatnonzero(flat)
    _, first = np.unique(flat[where], return_index=True)
    zyx = np.unravel_index(where[first], local.shape)
    return np.ravel_multi_index(tuple(c + s.start for c, s in zip(zyx, sl)), shape).astype(np.int64)


def _allocate_labels(shape: Sequence[int]) -> np.ndarray:
    """uint32 unless the volume has 2**32 voxels or more (provisional ids never exceed
    the number of foreground voxels)."""
    return np.zeros(shape, dtype=np.uint32 if int(np.prod(shape)) < 2**32 else np.uint64)


def label_chunked(
    mask: Any, chunk_zyx: Sequence[int], out: Any = None, connectivity: int = 1
) -> tuple[Any, int]:
    """Connected components of a binary (z, y, x) mask that may not fit in memory.

    ``mask`` is anything with ``.shape`` and numpy slicing (numpy array, memmap, zarr
    array) and is read one chunk at a time, never whole. ``connectivity`` has skimage's
    meaning (1: faces, 2: faces and edges, 3: also corners). The result equals
    ``skimage.measure.label(mask, connectivity=connectivity)`` exactly: ids are 1..n in the
    raster order of each object's first voxel, so labels do not depend on the chunking.

    Three passes over the chunks, so memory stays at a few chunks plus tables with one
    entry per provisional label:

    1. label each chunk on its own, offset to globally unique provisional ids, write them
       to ``out`` and note each one's first voxel;
    2. read two-voxel slabs of ``out`` across every chunk face and join touching ids in a
       union-find;
    3. order the merged objects by first voxel and rewrite ``out`` through a lookup array.

    ``out`` (numpy or zarr, shape of the mask, unsigned integers; its contents are
    overwritten) receives the labels; it must hold the provisional ids, which can exceed
    the final count, so use uint64 for huge volumes. ``None`` allocates a numpy array
    (small volumes). Returns ``(out, n)``.
    """
    from scipy import ndimage

    shape = check_volume(mask, "mask")
    chunk = check_chunk(chunk_zyx)
    if connectivity not in (1, 2, 3):
        raise ValueError(f"connectivity must be 1, 2 or 3 (as in skimage.measure.label), got {connectivity!r}")
    if out is None:
        out = _allocate_labels(shape)
    if tuple(out.shape) != shape or not np.issubdtype(out.dtype, np.integer):
        raise ValueError(f"out must be an integer array of shape {shape}, got {out.dtype} {tuple(out.shape)}")
    structure = ndimage.generate_binary_structure(3, connectivity)
    id_max = int(np.iinfo(out.dtype).max)

    n_prov, firsts = 0, [np.zeros(1, np.int64)]
    for sl in chunks(shape, chunk):
        local, n = ndimage.label(_read_binary(mask, sl), structure=structure)
        if n_prov + n > id_max:
            raise ValueError(f"{n_prov + n} provisional labels overflow out's {out.dtype}; pass a uint64 out")
        provisional = local.astype(out.dtype)
        provisional[local > 0] += n_prov
        out[sl] = provisional
        if n:
            firsts.append(_first_voxels(local, sl, shape))
        n_prov += int(n)

    union_find = _UnionFind()
    for sl in chunks(shape, chunk):
        for axis in range(3):
            if sl[axis].start > 0:
                for a, b in _face_pairs(out, sl, axis, shape, connectivity):
                    union_find.union(int(a), int(b))

    lut = _raster_lookup(union_find.roots(n_prov), np.concatenate(firsts)).astype(out.dtype)
    for sl in chunks(shape, chunk):
        out[sl] = lut[np.asarray(out[sl])]
    return out, int(lut.max(initial=0))


def _raster_lookup(roots: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Provisional id -> final id, numbering objects 1..n by their first voxel in raster
    order (how skimage numbers them). Index 0 (background) maps to 0."""
    size = len(roots)
    object_first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(object_first, roots[1:], first[1:])
    objects = np.flatnonzero(roots == np.arange(size))[1:]
    rank = np.zeros(size, dtype=np.int64)
    rank[objects[np.argsort(object_first[objects], kind="stable")]] = np.arange(1, len(objects) + 1)
    return rank[roots]
