"""Segmentation metrics of a binarised prediction against a binary label.

The paper reports "IoU"; the authors' torchmetrics call averaged the foreground and the
background IoU, which flatters sparse objects (background IoU is near 1). We report the
foreground IoU and that mean side by side, so our numbers can be compared with theirs and
with the literature. Counts are exact integers over the whole test volume; voxels whose
label is neither 0 nor 1 (:data:`vemtransfer.data.splits.IGNORE`: sections nobody annotated) are
not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """Confusion counts of a binary prediction."""

    tp: int
    fp: int
    fn: int
    tn: int


def confusion(pred: np.ndarray, label: np.ndarray) -> Counts:
    """Confusion counts of a boolean prediction against a label of the same shape.

    ``label`` is boolean or 0/1 (foreground 1); any other value marks a voxel left out.
    """
    if pred.shape != label.shape:
        raise ValueError(f"prediction shape {pred.shape} != label shape {label.shape}")
    pred = pred.astype(bool, copy=False)
    fg = label == 1
    tp = int(np.count_nonzero(pred & fg))
    fn = int(np.count_nonzero(fg)) - tp
    del fg
    bg = label == 0
    fp = int(np.count_nonzero(pred & bg))
    return Counts(tp, fp, fn, int(np.count_nonzero(bg)) - fp)


def _ratio(num: int, den: int) -> float | None:
    """``num / den``, or ``None`` where the metric is undefined (written as JSON null)."""
    return num / den if den else None


def scores(c: Counts) -> dict[str, float | None]:
    """IoU (foreground, background and their mean), accuracy, precision (PPV), recall (TPR)."""
    iou_fg = _ratio(c.tp, c.tp + c.fp + c.fn)
    iou_bg = _ratio(c.tn, c.tn + c.fp + c.fn)
    iou_mean = None if iou_fg is None or iou_bg is None else (iou_fg + iou_bg) / 2
    return {
        "iou_fg": iou_fg,
        "iou_bg": iou_bg,
        "iou_mean": iou_mean,
        "accuracy": _ratio(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn),
        "precision": _ratio(c.tp, c.tp + c.fp),
        "recall": _ratio(c.tp, c.tp + c.fn),
    }
