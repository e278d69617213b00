"""Predictions as OME-Zarr (OME-NGFF, the version the ``ome-zarr`` library writes), so that
napari, Fiji (MoBIE/BigDataViewer), neuroglancer and webKnossos open them at the right
physical scale.

Layout of a prediction ``<name>.zarr`` (a Zarr v3 group)::

    zarr.json            multiscales: axes z/y/x in nanometres, one scale per level
    0, 1, ...            foreground probability (float32), full resolution, then pyramid levels
    labels/mask/0, ...   the binary mask (uint8, prob > threshold) as an image-label

Arrays are written with ``zarr`` chunk by chunk (memory stays bounded by a few chunks); the
metadata is written by ``ome_zarr.writer`` so it follows the library's current format.
Pyramid levels halve y and x (and z once its voxel size is no longer the coarsest): the
probability by averaging, the mask by taking every second voxel (labels must not be
interpolated).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.core.boxes import box_slices, chunk_boxes

PROB = "0"
MASK = "labels/mask/0"
TOP_LEVEL_PX = 512
"""Levels are added until y and x fit in this many pixels (a screenful)."""
MAX_LEVELS = 6


def pyramid_factors(shape: Sequence[int], voxel_nm: Sequence[float]) -> list[tuple[int, int, int]]:
    """Per level after the first, the downsampling (z, y, x) from the level before it."""
    factors: list[tuple[int, int, int]] = []
    shape, voxel = list(shape), [float(v) for v in voxel_nm]
    while max(shape[1:]) > TOP_LEVEL_PX and len(factors) < MAX_LEVELS - 1:
        fz = 2 if voxel[0] < 2 * voxel[1] and shape[0] > 1 else 1  # z joins once y/x reach its voxel size
        f = (fz, 2, 2)
        factors.append(f)
        shape = [-(-n // k) for n, k in zip(shape, f)]
        voxel = [v * k for v, k in zip(voxel, f)]
    return factors


def _scales(voxel_nm: Sequence[float], factors: Sequence[Sequence[int]]) -> list[list[float]]:
    scales = [[float(v) for v in voxel_nm]]
    for f in factors:
        scales.append([s * k for s, k in zip(scales[-1], f)])
    return scales


def _shapes(shape: Sequence[int], factors: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    shapes = [tuple(int(n) for n in shape)]
    for f in factors:
        shapes.append(tuple(-(-n // k) for n, k in zip(shapes[-1], f)))
    return shapes


def _datasets(scales: list[list[float]]) -> list[dict[str, Any]]:
    return [{"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": s}]} for i, s in enumerate(scales)]


AXES = [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"]


def create_prediction(path: str | Path, shape: Sequence[int], chunk: Sequence[int], voxel_nm: Sequence[float],
                      attrs: dict[str, Any]) -> Any:
    """An empty prediction group at ``path``: every level's arrays and the OME metadata.

    ``attrs`` (how it was predicted) go under the group's ``vemtransfer`` attribute."""
    import zarr
    from ome_zarr.writer import write_label_metadata, write_multiscales_metadata

    chunk = tuple(min(int(c), int(n)) for c, n in zip(chunk, shape))
    factors = pyramid_factors(shape, voxel_nm)
    scales = _scales(voxel_nm, factors)
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    mask_group = root.require_group("labels").require_group("mask")
    for level, level_shape in enumerate(_shapes(shape, factors)):
        level_chunk = tuple(min(c, n) for c, n in zip(chunk, level_shape))
        root.create_array(str(level), shape=level_shape, chunks=level_chunk, dtype="float32", fill_value=0,
                          dimension_names=("z", "y", "x"))
        mask_group.create_array(str(level), shape=level_shape, chunks=level_chunk, dtype="uint8", fill_value=0,
                                dimension_names=("z", "y", "x"))
    write_multiscales_metadata(root, _datasets(scales), axes=AXES, name="probability")
    write_multiscales_metadata(mask_group, _datasets(scales), axes=AXES, name="mask")
    write_label_metadata(root["labels"], "mask", colors=[{"label-value": 1, "rgba": [255, 128, 0, 255]}],
                         source={"image": "../../"})
    root.attrs["vemtransfer"] = {**attrs, "voxel_nm": [float(v) for v in voxel_nm], "pyramid": [list(f) for f in factors]}
    return root


def _mean_down(block: np.ndarray, f: Sequence[int]) -> np.ndarray:
    """Mean over ``f``-sized cells; a short last cell (odd sizes) averages what it has."""
    pad = [(0, (-n) % k) for n, k in zip(block.shape, f)]
    padded = np.pad(block, pad, mode="edge") if any(b for _, b in pad) else block
    z, y, x = padded.shape
    return padded.reshape(z // f[0], f[0], y // f[1], f[1], x // f[2], f[2]).mean(axis=(1, 3, 5), dtype=np.float32)


def build_pyramid(root: Any, slab: int = 4) -> None:
    """Fill levels 1.. of the probability and the mask from level 0, one chunk at a time.

    Each destination chunk is computed ``slab`` of its sections at a time, so memory stays at
    one chunk plus a few source sections (a whole source region is 4-8 chunks)."""
    factors = [tuple(f) for f in root.attrs["vemtransfer"]["pyramid"]]
    mask_group = root["labels/mask"]
    for level, f in enumerate(factors, start=1):
        src_prob, dst_prob = root[str(level - 1)], root[str(level)]
        src_mask, dst_mask = mask_group[str(level - 1)], mask_group[str(level)]
        for box in chunk_boxes(dst_prob.shape, dst_prob.chunks):
            (z0, z1), *yx = box
            prob = np.empty([b - a for a, b in box], np.float32)
            mask = np.empty(prob.shape, np.uint8)
            for z in range(z0, z1, slab):
                part = ((z, min(z + slab, z1)), *yx)
                src = tuple(slice(a * k, min(b * k, n)) for (a, b), k, n in zip(part, f, src_prob.shape))
                rows = slice(z - z0, min(z + slab, z1) - z0)
                prob[rows] = _mean_down(np.asarray(src_prob[src]), f)
                mask[rows] = np.asarray(src_mask[src])[:: f[0], :: f[1], :: f[2]]
            dst_prob[box_slices(box)] = prob
            dst_mask[box_slices(box)] = mask


def open_prediction(path: str | Path) -> tuple[Any, Any]:
    """The full-resolution probability and mask arrays of a prediction (lazy zarr arrays)."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    if PROB not in root or "labels" not in root:
        raise ValueError(f"{path} is not a vemtransfer prediction (an OME-Zarr with level 0 and labels/mask)")
    return root[PROB], root[MASK]


def prediction_info(path: str | Path) -> dict[str, Any]:
    """How the prediction at ``path`` was made (its ``vemtransfer`` attributes)."""
    import zarr

    return dict(zarr.open_group(str(path), mode="r").attrs["vemtransfer"])
