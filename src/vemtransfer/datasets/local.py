"""A lab's own volume on disk (see vemtransfer.volume_io for the formats): read lazily, checked as it is read.

Nothing is downloaded; the prepare rule reads the files directly. Because a user's files are
the likeliest to be wrong, the reader checks what the paper's data never needs checking:
image and label shapes agree, the image is uint8, labels are 0/1. Labels saved otherwise (0/255
masks, a class map) name how to binarise them: ``{path, threshold}`` (object = value >= threshold, as in ``section_files``)
or ``{path, values}`` (object = value in the list); a plain path is taken as 0/1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.datasets.store import ArraySections
from vemtransfer.volume_io import open_volume


def label_path(label: str | Mapping[str, Any]) -> str:
    """The file of a label entry, given as a plain path or as ``{path: ..., threshold | values: ...}``."""
    return label if isinstance(label, str) else label["path"]


def local_files(spec: Mapping[str, Any]) -> list[str]:
    """Every file a ``local`` dataset reads (the image, then each label's), e.g. as a rule's inputs."""
    return [spec["image"], *(label_path(label) for label in spec["labels"].values())]


def label_mapping(label: str | Mapping[str, Any]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The 0/1 mask of a section's values under the entry's ``threshold`` or ``values``; None for a plain path."""
    if isinstance(label, str):
        return None
    if "threshold" in label:
        return lambda section: (section >= label["threshold"]).astype(np.uint8)
    if "values" in label:
        return lambda section: np.isin(section, label["values"]).astype(np.uint8)
    return None


class _Mapped:
    """A label volume seen through its mapping to 0/1, still read one section at a time."""

    def __init__(self, volume: Any, mapping: Callable[[np.ndarray], np.ndarray]) -> None:
        self.volume, self.mapping = volume, mapping
        self.shape, self.dtype = tuple(volume.shape), np.dtype(np.uint8)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.mapping(np.asarray(self.volume[key]))


def open_local(spec: Mapping[str, Any]) -> ArraySections:
    """The volume and labels of a ``local`` dataset spec, lazily read; shape and dtype checked now, label values per section."""
    image_path = Path(spec["image"])
    image = open_volume(image_path)
    if np.dtype(image.dtype) != np.uint8 or len(image.shape) != 3:
        raise ValueError(f"{image_path}: expected a uint8 (z, y, x) volume, got {image.dtype} {tuple(image.shape)}")
    paths = {name: label_path(label) for name, label in spec["labels"].items()}
    labels = {name: open_volume(p) for name, p in paths.items()}
    for name, vol in labels.items():
        if tuple(vol.shape) != tuple(image.shape):
            raise ValueError(f"{paths[name]}: {name} labels have shape {tuple(vol.shape)}, the image {image_path} has {tuple(image.shape)}")
        mapping = label_mapping(spec["labels"][name])
        if mapping:
            labels[name] = _Mapped(vol, mapping)

    def check(name: str, z: int, section: np.ndarray) -> None:
        if isinstance(labels[name], _Mapped):  # 0/1 by construction
            return
        bad = np.setdiff1d(np.unique(section), [0, 1])
        if bad.size:
            raise ValueError(f"{paths[name]}: section {z} has label values {bad[:5].tolist()} outside {{0, 1}}; "
                             f"give labels.{name} in the config as {{path: ..., threshold: ...}} or {{path: ..., values: [...]}}")

    return ArraySections(image, labels, check)
