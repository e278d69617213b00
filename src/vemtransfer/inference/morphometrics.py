"""Numbers per organelle: connected components of a binary mask, measured one by one.

A prediction mask of a whole volume-EM stack can be larger than RAM, so everything here
walks the volume one chunk at a time: labelling (``label_chunked``), the per-object table
(``measure_objects``) and the summary files (``measure``). Memory is bounded by a few chunks
plus tables with one entry per object; only a single object's bounding box is ever loaded
whole (for its surface mesh). ``skimage`` and ``matplotlib`` are imported inside the
functions that need them, like the rest of the package.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vemtransfer.core.storage import atomic_path, write_json
from vemtransfer.inference.tiling import box_slices, chunk_boxes

Slices = tuple[slice, slice, slice]

COLUMNS = (
    "id", "voxels", "volume_um3", "surface_um2",
    "bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1",
    "centroid_z_nm", "centroid_y_nm", "centroid_x_nm", "touches_border",
)
_BBOX = ("bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1")
_SUMS = ("sum_z", "sum_y", "sum_x")


# ---------------------------------------------------------------------------- validation


def _check_volume(array: Any, what: str) -> tuple[int, int, int]:
    """The (z, y, x) shape of ``array``; anything else is a caller error worth naming."""
    shape = tuple(int(s) for s in array.shape)
    if len(shape) != 3:
        raise ValueError(f"{what} must be a 3-D (z, y, x) volume, got shape {shape}")
    return shape  # type: ignore[return-value]


def _check_triple(values: Sequence[float], what: str) -> tuple[float, float, float]:
    """Three positive numbers (voxel size, chunk shape): a 2-tuple or a zero would silently
    give wrong volumes or an endless chunk loop."""
    try:
        triple = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x), got {values!r}") from None
    if len(triple) != 3 or not all(np.isfinite(v) and v > 0 for v in triple):
        raise ValueError(f"{what} must be 3 positive numbers (z, y, x), got {values!r}")
    return triple  # type: ignore[return-value]


def _check_chunk(chunk_zyx: Sequence[int]) -> tuple[int, int, int]:
    chunk = _check_triple(chunk_zyx, "chunk_zyx")
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


def _chunks(shape: Sequence[int], chunk: Sequence[int]) -> Iterator[Slices]:
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

    shape = _check_volume(mask, "mask")
    chunk = _check_chunk(chunk_zyx)
    if connectivity not in (1, 2, 3):
        raise ValueError(f"connectivity must be 1, 2 or 3 (as in skimage.measure.label), got {connectivity!r}")
    if out is None:
        out = _allocate_labels(shape)
    if tuple(out.shape) != shape or not np.issubdtype(out.dtype, np.integer):
        raise ValueError(f"out must be an integer array of shape {shape}, got {out.dtype} {tuple(out.shape)}")
    structure = ndimage.generate_binary_structure(3, connectivity)
    id_max = int(np.iinfo(out.dtype).max)

    n_prov, firsts = 0, [np.zeros(1, np.int64)]
    for sl in _chunks(shape, chunk):
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
    for sl in _chunks(shape, chunk):
        for axis in range(3):
            if sl[axis].start > 0:
                for a, b in _face_pairs(out, sl, axis, shape, connectivity):
                    union_find.union(int(a), int(b))

    lut = _raster_lookup(union_find.roots(n_prov), np.concatenate(firsts)).astype(out.dtype)
    for sl in _chunks(shape, chunk):
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


# ---------------------------------------------------------------------------- measuring


def _chunk_stats(block: np.ndarray, sl: Slices) -> pd.DataFrame | None:
    """Voxel count, coordinate sums and bounding box of every label in one chunk
    (global voxel indices); ``None`` for a chunk of background."""
    from scipy import ndimage

    ids, inverse = np.unique(block, return_inverse=True)
    compact = inverse.reshape(block.shape) + (0 if ids[0] == 0 else 1)
    ids = ids[ids != 0]
    if not len(ids):
        return None
    flat = compact.ravel()
    stats: dict[str, Any] = {"id": ids.astype(np.int64), "voxels": np.bincount(flat)[1:].astype(np.int64)}
    for axis, name in enumerate(_SUMS):
        coord = np.arange(block.shape[axis], dtype=np.float64).reshape([-1 if a == axis else 1 for a in range(3)])
        sums = np.bincount(flat, weights=np.broadcast_to(coord, block.shape).ravel())[1:]
        stats[name] = sums + sl[axis].start * stats["voxels"]
    boxes = ndimage.find_objects(compact)
    for axis in range(3):
        stats[_BBOX[axis]] = [b[axis].start + sl[axis].start for b in boxes]
        stats[_BBOX[axis + 3]] = [b[axis].stop + sl[axis].start for b in boxes]
    return pd.DataFrame(stats)


def _surface_um2(crop: np.ndarray, object_id: int, voxel_size_nm: Sequence[float], step: int) -> float:
    """Marching-cubes surface of one object in µm²; its crop is padded with background so
    objects cut by the crop (or the volume border) still get a closed surface. NaN when
    ``step`` is too coarse for the object to leave any surface."""
    from skimage.measure import marching_cubes, mesh_surface_area

    volume = np.pad(crop == object_id, 1).astype(np.float32)
    try:
        verts, faces, _, _ = marching_cubes(volume, level=0.5, spacing=tuple(voxel_size_nm), step_size=step)
    except RuntimeError:  # "No surface found": the object vanished at this step size
        return float("nan")
    return float(mesh_surface_area(verts, faces)) * 1e-6


def _surfaces(
    labels: Any, table: pd.DataFrame, shape: Sequence[int], chunk: Sequence[int], voxel_size_nm: Sequence[float], step: int
) -> np.ndarray:
    """Surface of every object, reading each chunk once for all objects inside it and
    the bounding box of each object that spans chunks (many small objects would
    otherwise cost one zarr chunk decode each)."""
    lo = table[list(_BBOX[:3])].to_numpy()
    hi = table[list(_BBOX[3:])].to_numpy()
    home = lo // np.asarray(chunk)
    inside = np.all(home == (hi - 1) // np.asarray(chunk), axis=1)
    areas = np.full(len(table), np.nan)
    ids = table["id"].to_numpy()
    for row in np.flatnonzero(~inside):
        box = tuple(slice(a, b) for a, b in zip(lo[row], hi[row]))
        areas[row] = _surface_um2(np.asarray(labels[box]), int(ids[row]), voxel_size_nm, step)
    by_chunk: dict[tuple[int, ...], list[int]] = {}
    for row in np.flatnonzero(inside):
        by_chunk.setdefault(tuple(home[row]), []).append(row)
    for key, rows in by_chunk.items():
        origin = np.asarray(key) * np.asarray(chunk)
        block = np.asarray(labels[tuple(slice(o, min(o + c, n)) for o, c, n in zip(origin, chunk, shape))])
        for row in rows:
            box = tuple(slice(a, b) for a, b in zip(lo[row] - origin, hi[row] - origin))
            areas[row] = _surface_um2(block[box], int(ids[row]), voxel_size_nm, step)
    return areas


def _empty_table() -> pd.DataFrame:
    dtypes = {c: "int64" for c in COLUMNS} | {
        c: "float64" for c in ("volume_um3", "surface_um2", "centroid_z_nm", "centroid_y_nm", "centroid_x_nm")
    }
    dtypes["touches_border"] = "bool"
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in COLUMNS})


def measure_objects(
    labels: Any, voxel_size_nm_zyx: Sequence[float], chunk_zyx: Sequence[int], mesh_step: int = 1
) -> pd.DataFrame:
    """One row per labelled object (columns ``COLUMNS``), from a label volume read chunk by chunk.

    Counts, coordinate sums and bounding boxes are accumulated per chunk, so memory is
    a chunk plus a few rows per object. Bounding boxes are voxel indices, stop exclusive;
    centroids are in nm with voxel centres at index × voxel size. ``volume_um3`` is the
    voxel count times the voxel volume. ``surface_um2`` is the area of a marching-cubes
    mesh (level 0.5, ``step_size=mesh_step``) of the object alone, which is why **one
    object's bounding box must fit in memory**. Binary marching cubes overestimates smooth
    surfaces by several per cent (the mesh follows the voxel staircase); flat faces are
    close. ``touches_border`` flags objects cut by the volume's faces, whose true size is
    unknown.
    """
    shape = _check_volume(labels, "labels")
    voxel = _check_triple(voxel_size_nm_zyx, "voxel_size_nm_zyx")
    chunk = _check_chunk(chunk_zyx)
    parts = [p for sl in _chunks(shape, chunk) if (p := _chunk_stats(np.asarray(labels[sl]), sl)) is not None]
    if not parts:
        return _empty_table()
    agg = {"voxels": "sum"} | dict.fromkeys(_SUMS, "sum") | dict.fromkeys(_BBOX[:3], "min") | dict.fromkeys(_BBOX[3:], "max")
    table = pd.concat(parts).groupby("id", sort=True).agg(agg).reset_index()
    table["volume_um3"] = table["voxels"] * float(np.prod(voxel)) * 1e-9
    for axis, name in zip(range(3), ("centroid_z_nm", "centroid_y_nm", "centroid_x_nm")):
        table[name] = table[_SUMS[axis]] / table["voxels"] * voxel[axis]
    lo = table[list(_BBOX[:3])].to_numpy()
    hi = table[list(_BBOX[3:])].to_numpy()
    table["touches_border"] = np.any(lo == 0, axis=1) | np.any(hi == np.asarray(shape), axis=1)
    table["surface_um2"] = _surfaces(labels, table, shape, chunk, voxel, mesh_step)
    return table[list(COLUMNS)]


# ---------------------------------------------------------------------------- reporting


def summarise(table: pd.DataFrame, shape_zyx: Sequence[int], voxel_size_nm_zyx: Sequence[float]) -> dict:
    """Headline numbers of an object table, JSON-ready (statistics are ``None`` when there
    are no objects, rather than NaN, which JSON cannot hold)."""
    volumes = table["volume_um3"].to_numpy(dtype=np.float64)
    total_voxels = int(np.prod([int(s) for s in shape_zyx]))

    def stat(fn: Any, *args: Any) -> float | None:
        return float(fn(volumes, *args)) if len(volumes) else None

    return {
        "count": int(len(table)),
        "total_volume_um3": float(volumes.sum()),
        "volume_fraction": float(table["voxels"].sum()) / total_voxels,
        "median_volume_um3": stat(np.median),
        "mean_volume_um3": stat(np.mean),
        "p10_volume_um3": stat(np.percentile, 10),
        "p90_volume_um3": stat(np.percentile, 90),
        "touching_border": int(table["touches_border"].sum()),
        "voxel_size_nm_zyx": [float(v) for v in voxel_size_nm_zyx],
        "shape_zyx": [int(s) for s in shape_zyx],
    }


def _log_bins(volumes: np.ndarray, n: int = 30) -> np.ndarray:
    """Log-spaced bin edges covering all volumes: organelle sizes span decades."""
    lo, hi = float(volumes.min()), float(volumes.max())
    if lo == hi:
        lo, hi = lo / 1.5, hi * 1.5
    return np.geomspace(lo, hi, n + 1)


def plot_size_distribution(table: pd.DataFrame, path: str | Path) -> None:
    """Histogram of object volumes (µm³, log-spaced bins) as a PNG, written atomically.

    Uses a bare ``Figure`` (Agg canvas) rather than pyplot, so no global state or
    backend switch leaks into the caller."""
    from matplotlib.figure import Figure

    volumes = table["volume_um3"].to_numpy(dtype=np.float64)
    fig = Figure(figsize=(5, 3.5), dpi=100)
    ax = fig.add_subplot()
    if len(volumes):
        ax.hist(volumes, bins=_log_bins(volumes), color="tab:blue", edgecolor="white")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no objects", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("object volume (µm³)")
    ax.set_ylabel("objects")
    ax.set_title(f"{len(volumes)} objects")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def measure(
    mask: Any,
    voxel_size_nm_zyx: Sequence[float],
    csv_path: str | Path,
    summary_path: str | Path,
    plot_path: str | Path,
    chunk_zyx: Sequence[int] = (64, 256, 256),
    connectivity: int = 1,
    labels_out: Any = None,
) -> dict:
    """Label a binary mask, measure every object and write the table (CSV), the summary
    (JSON, returned) and a size histogram (PNG), each atomically.

    ``labels_out`` (e.g. a zarr array) keeps the labels for later use and bounds memory
    for large masks; ``None`` holds them in a numpy array. The summary records
    ``connectivity`` as well, since it changes what counts as one object.
    """
    shape = _check_volume(mask, "mask")
    voxel = _check_triple(voxel_size_nm_zyx, "voxel_size_nm_zyx")
    labels, _ = label_chunked(mask, chunk_zyx, out=labels_out, connectivity=connectivity)
    table = measure_objects(labels, voxel, chunk_zyx)
    summary = summarise(table, shape, voxel) | {"connectivity": int(connectivity)}
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_json(summary_path, summary)
    plot_size_distribution(table, plot_path)
    return summary
