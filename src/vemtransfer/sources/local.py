"""A lab's own volume on disk (see vemtransfer.volume_io for the formats): read lazily, checked as it is read.

Nothing is downloaded; the prepare rule reads the files directly. Because a user's files are
the likeliest to be wrong, the reader checks what the paper's data never needs checking:
image and label shapes agree, the image is uint8, labels are 0/1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.volume_io import open_volume
from vemtransfer.sources.store import ArraySections


def open_local(spec: Mapping[str, Any]) -> ArraySections:
    """The volume and labels of a ``local`` source spec, lazily read; shape and dtype checked now, label values per section."""
    image_path = Path(spec["image"])
    image = open_volume(image_path)
    if np.dtype(image.dtype) != np.uint8 or len(image.shape) != 3:
        raise ValueError(f"{image_path}: expected a uint8 (z, y, x) volume, got {image.dtype} {tuple(image.shape)}")
    labels = {name: open_volume(p) for name, p in spec["labels"].items()}
    for name, vol in labels.items():
        if tuple(vol.shape) != tuple(image.shape):
            raise ValueError(f"{spec['labels'][name]}: {name} labels have shape {tuple(vol.shape)}, the image {image_path} has {tuple(image.shape)}")

    def check(name: str, z: int, section: np.ndarray) -> None:
        bad = np.setdiff1d(np.unique(section), [0, 1])
        if bad.size:
            raise ValueError(f"{spec['labels'][name]}: section {z} has label values {bad[:5].tolist()} outside {{0, 1}}")

    return ArraySections(image, labels, check)
