"""A prepared task's fingerprint: what the plan (:mod:`vemtransfer.planning.plan`) is derived from.

nnU-Net's experiment planning in small: before choosing a window or a batch, measure the
volume the model will learn. Everything here is read from the prepared *training* split
(``train.{image,label}.npy`` and ``patches.json``; never validation or test), so a plan
uses no information that scores it: the voxel size after preprocessing, how many sections
there are and how big, their intensities after CLAHE, and from the labels the object
diameters, the foreground fraction, which sections carry labels and whether those have
real neighbours (labelled blocks of one section, or sections so far apart that neighbours
do not look alike, must not be read as a stack).

At most ``max_sections`` labelled sections are measured (evenly spaced), so a paper-sized
task is fingerprinted in seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from vemtransfer.config.preprocess import prepared_voxel_nm
from vemtransfer.core.layout import PATCH_INDEX
from vemtransfer.data.splits import IGNORE, load_split

MIN_OBJECT_PX = 9
"""Connected components smaller than this (3 x 3 px) are label noise, not objects."""
NEIGHBOUR_CORRELATION = 0.15
"""Adjacent sections whose (4x-downsampled) images correlate less than this are not neighbours
(e.g. annotated sections far apart stacked into one file); a serial stack at 40-50 nm correlates
clearly above it."""


def _evenly(items: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of ``items``, evenly spaced, first and last included."""
    if len(items) <= k:
        return list(items)
    return [items[round(i)] for i in np.linspace(0, len(items) - 1, k)]


def object_diameters(label: np.ndarray) -> np.ndarray:
    """Equivalent diameters (px, the circle of the same area) of the 2-D connected foreground components of one section."""
    components, n = ndimage.label(np.asarray(label) == 1)
    if not n:
        return np.zeros(0)
    areas = np.bincount(components.ravel())[1:]
    areas = areas[areas >= MIN_OBJECT_PX]
    return np.sqrt(4 * areas / math.pi)


def _neighbour_correlation(image: np.ndarray, blocks: Sequence[int], max_pairs: int = 16) -> float | None:
    """Median Pearson correlation of adjacent sections (4x downsampled) within blocks; None without a pair."""
    starts = np.cumsum([0, *blocks[:-1]])
    pairs = [z for z0, b in zip(starts, blocks) for z in range(int(z0), int(z0) + b - 1)]
    values = []
    for z in _evenly(pairs, max_pairs):
        a, b = (np.asarray(image[i, ::4, ::4], dtype=np.float64).ravel() for i in (z, z + 1))
        if a.std() > 0 and b.std() > 0:
            values.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.median(values)) if values else None


def _runs(indices: Sequence[int]) -> int:
    """How many runs of consecutive integers ``indices`` (sorted) form."""
    return sum(1 for i, z in enumerate(indices) if i == 0 or z != indices[i - 1] + 1)


def fingerprint(task_dir: str | Path, voxel_nm: Sequence[float] | None = None, max_sections: int = 32) -> dict[str, Any]:
    """Measure the prepared training split in ``task_dir`` (``voxel_nm``: the dataset's voxel size as stored, if known)."""
    task_dir = Path(task_dir)
    index = json.loads((task_dir / PATCH_INDEX).read_text())
    train = load_split(task_dir, "train")
    n, h, w = train.image.shape
    blocks = list(train.blocks or [n])
    labelled = [z for z in range(n) if train.label[z, 0, 0] != IGNORE]  # as prepare marks them: a whole section or none
    measured = _evenly(labelled, max_sections)
    diameters = np.concatenate([object_diameters(train.label[z]) for z in measured]) if measured else np.zeros(0)
    fg = [np.count_nonzero(train.label[z] == 1) / train.label[z].size for z in measured]
    pixels = np.concatenate([np.asarray(train.image[z, ::4, ::4]).ravel() for z in measured or [0]])
    block_of = np.searchsorted(np.cumsum(blocks), labelled, side="right")
    labelled_blocks = sorted({blocks[b] for b in block_of})
    corr = _neighbour_correlation(train.image, blocks)
    runs = sum(_runs([z for z, bb in zip(labelled, block_of) if bb == b]) for b in sorted(set(block_of)))
    voxel = list(prepared_voxel_nm(voxel_nm, index["raw_section_shape"], index["z_step"], index["preprocess"])) if voxel_nm else None
    return {
        "task": index["task"], "fold": index.get("fold"),
        "voxel_nm": [round(v, 3) for v in voxel] if voxel else None,
        "anisotropy": round(voxel[0] / voxel[1], 3) if voxel else None,
        "sections": n, "section_yx": [h, w], "blocks": blocks,
        "intensity": {"mean": round(float(pixels.mean()), 2), "std": round(float(pixels.std()), 2),
                      "p01": float(np.percentile(pixels, 1)), "p99": float(np.percentile(pixels, 99))},
        "labelled_sections": len(labelled), "measured_sections": len(measured),
        "labelled_runs": runs,
        "contiguous": len(labelled) > 1 and runs == len(set(block_of)) and all(blocks[b] > 1 for b in set(block_of)),
        "smallest_labelled_block": labelled_blocks[0] if labelled_blocks else 0,
        "neighbour_correlation": None if corr is None else round(corr, 3),
        "foreground_fraction": round(float(np.mean(fg)), 5) if fg else 0.0,
        "objects": int(diameters.size),
        "diameter_px": {q: round(float(np.percentile(diameters, p)), 1) if diameters.size else None
                        for q, p in (("p10", 10), ("median", 50), ("p90", 90))},
    }


def has_neighbours(fp: dict[str, Any]) -> bool:
    """Whether a labelled section has real neighbouring sections to give a 3-D window context."""
    if fp["smallest_labelled_block"] < 2:
        return False
    corr = fp["neighbour_correlation"]
    return corr is None or corr >= NEIGHBOUR_CORRELATION
