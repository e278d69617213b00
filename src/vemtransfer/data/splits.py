"""Prepared splits as training and scoring read them: memory-mapped uint8 volumes with their blocks.

Prepared splits are uint8 ``.npy`` files read through memory maps, so a job touches only the
sections it uses (small splits are read into memory once: :func:`in_memory`); images are scaled to
[-1, 1] only when read (:func:`normalise`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemtransfer.config.preprocess import INTENSITY_CENTRE
from vemtransfer.core.layout import PATCH_INDEX, SPLITS, split_files

IGNORE = 255
"""Label value of voxels nobody labelled (sparse sections, or outside a label budget): not scored, no loss."""
IN_MEMORY_BYTES = 1 << 30
"""Splits up to this size (image + label) are read into memory for training: no page faults, no workers needed."""


@dataclass(frozen=True)
class Volume:
    """A prepared split: uint8 image (after CLAHE and blur) and uint8 label (0/1, :data:`IGNORE`
    on unlabelled sections), both (z, y, x)."""

    image: np.ndarray
    label: np.ndarray
    blocks: tuple[int, ...] | None = None
    """Sections per stacked volume (labelled blocks, UroCell volumes), in order; None: one volume.
    Windows and patches never straddle two."""


def split_paths(task_dir: str | Path, split: str) -> tuple[Path, Path]:
    """Where ``prepare`` writes the image and label of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return split_files(task_dir, split)


def load_split(task_dir: str | Path, split: str) -> Volume:
    """Memory-map one prepared split, with its volume blocks from the patch index beside it (when
    there is one); fails with the path if it is missing or corrupt."""
    image_path, label_path = split_paths(task_dir, split)
    try:
        image = np.load(image_path, mmap_mode="r")
        label = np.load(label_path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"prepared split {split!r} of {task_dir} is unreadable: {exc}") from exc
    if image.shape != label.shape or image.ndim != 3:
        raise ValueError(f"{task_dir}/{split}: image {image.shape} and label {label.shape} differ")
    index = Path(task_dir) / PATCH_INDEX
    blocks = json.loads(index.read_text())["splits"][split]["blocks"] if index.exists() else None
    if blocks is not None and sum(blocks) != len(image):
        raise ValueError(f"{index}: the {split} split's blocks {blocks} do not add up to its {len(image)} sections")
    return Volume(image, label, tuple(blocks) if blocks is not None else None)


def in_memory(volume: Volume, limit: int = IN_MEMORY_BYTES) -> Volume:
    """``volume`` read into memory when it is at most ``limit`` bytes, else left memory-mapped."""
    if volume.image.nbytes + volume.label.nbytes > limit:
        return volume
    return Volume(np.array(volume.image), np.array(volume.label), volume.blocks)


def normalise(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1], the authors' ``(x - 127.5) / 127.5`` (:data:`~vemtransfer.config.preprocess.INTENSITY_CENTRE`)."""
    return (np.asarray(image, dtype=np.float32) - INTENSITY_CENTRE) / INTENSITY_CENTRE
