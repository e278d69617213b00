"""Object-level reading of a prediction, for Fig. 3: which predicted objects are mispredictions.

The paper colours red every predicted object (3D connected component of the binarised
prediction) that overlaps the ground truth by less than 50 % of its own volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def object_overlaps(pred: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(component ids of ``pred`` (0 = background), overlap fraction with ``label`` per id, index 0 unused)."""
    ids, n = ndimage.label(np.asarray(pred, bool))
    size = np.bincount(ids.ravel(), minlength=n + 1)
    hit = np.bincount(ids.ravel(), weights=np.asarray(label, bool).ravel(), minlength=n + 1)
    frac = np.divide(hit, size, out=np.zeros(n + 1), where=size > 0)
    return ids, frac


def split_by_overlap(pred: np.ndarray, label: np.ndarray, min_overlap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(well-placed objects, mispredicted objects) as boolean masks: overlap >= / < ``min_overlap``."""
    ids, frac = object_overlaps(pred, label)
    bad_ids = np.flatnonzero(frac < min_overlap)
    bad = np.isin(ids, bad_ids[bad_ids > 0])
    return (ids > 0) & ~bad, bad
