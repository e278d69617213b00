"""A lab's own volume on disk (see vemtransfer.data.volume_io for the formats): read lazily, checked as it is read.

Nothing is downloaded; the prepare rule reads the files directly. Because a user's files are
the likeliest to be wrong, the reader checks what the paper's data never needs checking:
image and label shapes agree, the image is uint8, labels are 0/1. Labels saved otherwise (0/255
masks, a class map) name how to binarise them: ``{path, threshold}`` (object = value >= threshold, as in ``section_files``)
or ``{path, values}`` (object = value in the list); a plain path is taken as 0/1.

Labels often exist only on a few *blocks* of a stack (runs of consecutive sections far apart
in z), or were exported block by block. Stacking such blocks into one file would let training
patches and inference windows slide across the gap, seeing two unrelated tissues as
neighbours. A local dataset may therefore list ``volumes``: named blocks, each a z range of
the dataset's ``image``/``labels`` (``{z: [start, stop]}``, section indices of the stack) or its
own files (``{image, labels}``, sections from 0). They are the dataset's volumes as UroCell's
are: task regions pick them with ``volumes: [...]``, and the prepared splits keep them apart
(patches, validation crops and test windows never straddle two). The whole-volume prediction
of such a dataset is the stack given as ``image``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.data.datasets.store import MAIN, ArraySections
from vemtransfer.data.volume_io import open_volume


def label_path(label: str | Mapping[str, Any]) -> str:
    """The file of a label entry, given as a plain path or as ``{path: ..., threshold | values: ...}``."""
    return label if isinstance(label, str) else label["path"]


def file_entries(spec: Mapping[str, Any]) -> list[tuple[str, str | Mapping[str, Any]]]:
    """(config key, entry) of every file a ``local`` dataset names: its image and labels, then each
    volume's own; label entries as given (path or mapping), images as paths."""
    entries: list[tuple[str, str | Mapping[str, Any]]] = []
    for prefix, part in [("", spec), *((f"volumes.{name}.", v) for name, v in spec.get("volumes", {}).items())]:
        if "image" in part:
            entries.append((f"{prefix}image", part["image"]))
        entries += [(f"{prefix}labels.{k}", v) for k, v in part.get("labels", {}).items()]
    return entries


def local_files(spec: Mapping[str, Any]) -> list[str]:
    """Every file a ``local`` dataset reads (the image, then each label's, then each volume's), e.g. as a rule's inputs."""
    return [label_path(entry) for _, entry in file_entries(spec)]


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


def _open_image(path: str | Path) -> Any:
    image = open_volume(path)
    if np.dtype(image.dtype) != np.uint8 or len(image.shape) != 3:
        raise ValueError(f"{path}: expected a uint8 (z, y, x) volume, got {image.dtype} {tuple(image.shape)}")
    return image


def _open_pair(image_path: str, label_entries: Mapping[str, Any]) -> ArraySections:
    """One image and its labels (shapes checked now, values of unmapped labels per section as read)."""
    image = _open_image(image_path)
    paths = {name: label_path(label) for name, label in label_entries.items()}
    labels = {name: open_volume(p) for name, p in paths.items()}
    for name, vol in labels.items():
        if tuple(vol.shape) != tuple(image.shape):
            raise ValueError(f"{paths[name]}: {name} labels have shape {tuple(vol.shape)}, the image {image_path} has {tuple(image.shape)}")
        mapping = label_mapping(label_entries[name])
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


class LocalVolumes:
    """The named blocks of a local dataset as one section store: each block is a stack's z range or its own files."""

    def __init__(self, parts: Mapping[str, tuple[ArraySections, range]]) -> None:
        self._parts = dict(parts)

    def volumes(self) -> tuple[str, ...]:
        return tuple(self._parts)

    def labels(self) -> tuple[str, ...]:
        """The labels every block has (a task's label must be in all of them)."""
        names = [set(sections.labels()) for sections, _ in self._parts.values()]
        return tuple(sorted(set.intersection(*names)))

    def indices(self, volume: str) -> list[int]:
        return list(self._part(volume)[1])

    def image(self, volume: str, z: int) -> np.ndarray:
        return self._sections(volume, z).image(MAIN, z)

    def label(self, name: str, volume: str, z: int) -> np.ndarray:
        sections = self._sections(volume, z)
        if name not in sections.labels():
            raise ValueError(f"volume {volume!r} has no {name!r} labels (has {list(sections.labels())})")
        return sections.label(name, MAIN, z)

    def _part(self, volume: str) -> tuple[ArraySections, range]:
        if volume not in self._parts:
            raise KeyError(f"no volume {volume!r} in this dataset (volumes: {', '.join(self._parts)})")
        return self._parts[volume]

    def _sections(self, volume: str, z: int) -> ArraySections:
        sections, zs = self._part(volume)
        if z not in zs:
            raise IndexError(f"section {z} is outside volume {volume!r} (sections {zs.start} to {zs.stop - 1})")
        return sections


def open_local(spec: Mapping[str, Any]) -> ArraySections | LocalVolumes:
    """The volume(s) and labels of a ``local`` dataset spec, lazily read; shape and dtype checked now, label values per section."""
    if "volumes" not in spec:
        return _open_pair(spec["image"], spec["labels"])
    stack = _open_pair(spec["image"], spec.get("labels", {})) if "image" in spec else None
    parts: dict[str, tuple[ArraySections, range]] = {}
    for name, block in spec["volumes"].items():
        if "z" in block:
            if stack is None:
                raise ValueError(f"volume {name!r} is a z range of the dataset's image, but the dataset has no image")
            zs = range(*block["z"])
            n = stack.shape[0]
            if not zs or zs.start < 0 or zs.stop > n:
                raise ValueError(f"volume {name!r}: z {list(block['z'])} is not a range inside the {n} sections of {spec['image']}")
            parts[name] = (stack, zs)
        else:
            own = _open_pair(block["image"], block["labels"])
            parts[name] = (own, range(own.shape[0]))
    return LocalVolumes(parts)


def open_local_stack(spec: Mapping[str, Any]) -> ArraySections:
    """The whole stack of a local dataset (its ``image``, no labels), as one volume: what is predicted."""
    if "image" not in spec:
        names = ", ".join(spec.get("volumes", {}))
        raise ValueError(f"the dataset has labelled volumes ({names}) but no whole-stack image to predict; "
                         "give the stack as its image, or predict each block with `vemtransfer predict`")
    return ArraySections(_open_image(spec["image"]), {})
