"""Cut a task's train / validation / test volumes and patch index from its source.

Driven by the task spec alone (regions, label, validation carving), so every task of every
dataset goes through the same code. Intensities follow the authors: OpenCV CLAHE
(clip 3.5, 8 x 8 tiles) then a 3 x 3 Gaussian blur (sigma 0.5), slice by slice; images are
stored as uint8 and scaled to [-1, 1] when read. The validation split is ours (the authors
selected models on the test set): the far end of the training region along one axis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vemtransfer.config import TaskSpec
from vemtransfer.data import split_paths, subset_order, tile_origins
from vemtransfer.sources import SourceVolume
from vemtransfer.storage import write_json, write_npy

AXES = "zyx"


def clahe_blur(image: np.ndarray) -> np.ndarray:
    """CLAHE(3.5, 8x8) then GaussianBlur(3x3, sigma 0.5) on each uint8 section."""
    clahe = cv2.createCLAHE(clipLimit=3.5, tileGridSize=(8, 8))
    out = np.empty_like(image)
    for z, section in enumerate(image):
        out[z] = cv2.GaussianBlur(clahe.apply(np.ascontiguousarray(section)), (3, 3), 0.5)
    return out


def carve_validation(shape: tuple[int, ...], axis: str, fraction: float, patch_size: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Split a training region into (train, val) slices: the last ``fraction`` along ``axis``,
    at least one patch long, with at least one patch left for training."""
    a = AXES.index(axis)
    n, p = shape[a], patch_size[a]
    n_val = max(p, math.ceil(fraction * n))
    if n - n_val < p:
        raise ValueError(
            f"training region of {n} along {axis} cannot hold a validation split of {n_val} "
            f"and a patch of {p}; choose another validation axis or a smaller fraction"
        )
    train, val = [slice(None)] * 3, [slice(None)] * 3
    train[a], val[a] = slice(0, n - n_val), slice(n - n_val, n)
    return tuple(train), tuple(val)


def prepare_task(task: TaskSpec, source: SourceVolume, out_dir: str | Path, patch_size: tuple[int, int, int], stride: tuple[int, int, int], seed: int) -> dict[str, Any]:
    """Write ``{train,val,test}.{image,label}.npy`` and ``patches.json`` into ``out_dir``."""
    if task.label not in source.labels:
        raise ValueError(f"task {task.id}: source has no {task.label!r} labels (has {sorted(source.labels)})")
    image = clahe_blur(source.image)
    label = (np.asarray(source.labels[task.label]) != 0).astype(np.uint8)
    train_img, train_lab = image[task.train.slices()], label[task.train.slices()]
    tr, va = carve_validation(train_img.shape, task.val_axis, task.val_fraction, patch_size)
    splits = {
        "train": (train_img[tr], train_lab[tr]),
        "val": (train_img[va], train_lab[va]),
        "test": (image[task.test.slices()], label[task.test.slices()]),
    }
    summary: dict[str, Any] = {"task": task.id, "patch_size": list(patch_size), "stride": list(stride), "splits": {}}
    for split, (img, lab) in splits.items():
        if min(img.shape) == 0:
            raise ValueError(f"task {task.id}: {split} region is empty ({img.shape})")
        image_path, label_path = split_paths(out_dir, split)
        write_npy(image_path, img)
        write_npy(label_path, lab)
        summary["splits"][split] = {"shape": list(img.shape), "foreground": float(lab.mean())}
    origins = tile_origins(splits["train"][0].shape, patch_size, stride)
    summary["origins"] = [list(o) for o in origins]
    summary["subset_order"] = subset_order(len(origins), seed)
    write_json(Path(out_dir) / "patches.json", summary)
    return summary
