"""Numbers per organelle: the objects of a binary mask, measured one by one.

A prediction mask of a whole volume-EM stack can be larger than RAM, so everything here
walks the volume one chunk at a time: labelling (:mod:`vemtransfer.inference.labelling`), the
per-object table (``measure_objects``) and the summary files (``measure``). Memory is bounded by
a few chunks plus tables with one entry per object; only a single object's bounding box is ever
loaded whole (for its surface mesh). The size histogram is the report's
(:mod:`vemtransfer.report.size_histogram`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vemtransfer.core.storage import atomic_path, write_json
from vemtransfer.inference.labelling import Slices, check_chunk, check_triple, check_volume, chunks, label_chunked

COLUMNS = (
    "id", "voxels", "volume_um3", "surface_um2",
    "bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1",
    "centroid_z_nm", "centroid_y_nm", "centroid_x_nm", "touches_border",
)
_BBOX = ("bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1")
_SUMS = ("sum_z", "sum_y", "sum_x")


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
    shape = check_volume(labels, "labels")
    voxel = check_triple(voxel_size_nm_zyx, "voxel_size_nm_zyx")
    chunk = check_chunk(chunk_zyx)
    parts = [p for sl in chunks(shape, chunk) if (p := _chunk_stats(np.asarray(labels[sl]), sl)) is not None]
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


def measure(
    mask: Any,
    voxel_size_nm_zyx: Sequence[float],
    csv_path: str | Path,
    summary_path: str | Path,
    chunk_zyx: Sequence[int] = (64, 256, 256),
    connectivity: int = 1,
    labels_out: Any = None,
) -> dict:
    """Label a binary mask, measure every object and write the table (CSV) and the summary
    (JSON, returned), each atomically.

    ``labels_out`` (e.g. a zarr array) keeps the labels for later use and bounds memory
    for large masks; ``None`` holds them in a numpy array. The summary records
    ``connectivity`` as well, since it changes what counts as one object.
    """
    shape = check_volume(mask, "mask")
    voxel = check_triple(voxel_size_nm_zyx, "voxel_size_nm_zyx")
    labels, _ = label_chunked(mask, chunk_zyx, out=labels_out, connectivity=connectivity)
    table = measure_objects(labels, voxel, chunk_zyx)
    summary = summarise(table, shape, voxel) | {"connectivity": int(connectivity)}
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_json(summary_path, summary)
    return summary
