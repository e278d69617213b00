"""A lab's own volume on disk (TIFF stack, .npy or Zarr): read lazily, checked as it is read.

Nothing is downloaded; the prepare rule reads the files directly. Because a user's files are
the likeliest to be wrong, the reader checks what the paper's data never needs checking:
image and label shapes agree, the image is uint8, labels are 0/1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.export import open_volume
from vemtransfer.sources.store import MAIN


class LocalSections:
    """Sections of a local image volume and its label volumes (one volume, ``main``)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._image_path = Path(spec["image"])
        self._image = open_volume(self._image_path)
        if np.dtype(self._image.dtype) != np.uint8 or len(self._image.shape) != 3:
            raise ValueError(f"{self._image_path}: expected a uint8 (z, y, x) volume, got {self._image.dtype} {tuple(self._image.shape)}")
        self._labels = {name: (Path(p), open_volume(p)) for name, p in spec["labels"].items()}
        for name, (path, vol) in self._labels.items():
            if tuple(vol.shape) != tuple(self._image.shape):
                raise ValueError(f"{path}: {name} labels have shape {tuple(vol.shape)}, the image {self._image_path} has {tuple(self._image.shape)}")

    def volumes(self) -> tuple[str, ...]:
        return (MAIN,)

    def labels(self) -> tuple[str, ...]:
        return tuple(self._labels)

    def indices(self, volume: str) -> list[int]:
        return list(range(self._image.shape[0]))

    def image(self, volume: str, z: int) -> np.ndarray:
        return np.asarray(self._image[z])

    def label(self, name: str, volume: str, z: int) -> np.ndarray:
        path, vol = self._labels[name]
        section = np.asarray(vol[z])
        bad = np.setdiff1d(np.unique(section), [0, 1])
        if bad.size:
            raise ValueError(f"{path}: section {z} has label values {bad[:5].tolist()} outside {{0, 1}}")
        return section
