"""The synthetic demo source: generated in memory, exposed through the section interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vemtransfer import synthetic
from vemtransfer.sources.store import MAIN


class InMemorySections:
    """Sections of an in-memory volume (one volume, named ``main``)."""

    def __init__(self, image: np.ndarray, labels: Mapping[str, np.ndarray]) -> None:
        self._image, self._labels = image, dict(labels)

    def volumes(self) -> tuple[str, ...]:
        return (MAIN,)

    def labels(self) -> tuple[str, ...]:
        return tuple(self._labels)

    def indices(self, volume: str) -> list[int]:
        return list(range(self._image.shape[0]))

    def image(self, volume: str, z: int) -> np.ndarray:
        return self._image[z]

    def label(self, name: str, volume: str, z: int) -> np.ndarray:
        return self._labels[name][z]


def generate(spec: Mapping[str, Any]) -> InMemorySections:
    image, labels = synthetic.generate_tissue(spec["tissue"], tuple(spec["shape"]), spec.get("seed", 0))
    return InMemorySections(image, labels)
