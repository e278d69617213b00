"""The section store: every downloaded dataset ends up as one TIFF per section.

``<raw_dir>/sections/<volume>/<kind>/<z:05d>.tif``, with ``kind`` = ``image`` or a label
name (``mito``, ``er``, ``neurite`` ...). Datasets arrive as a multi-page TIFF in a zip
(SNEMI3D), NIfTI volumes (UroCell), per-slice TIFFs plus label zips (EMPIAR-10791) or
zipped section files (rat liver); converting them once at download time lets a single
lazy reader serve every task, one section at a time (the mouse-liver sections are
12000 x 8000 and 180 of them do not fit comfortably in memory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import tifffile

from vemtransfer.core.layout import MAIN  # noqa: F401  (the store's name of a single volume)
from vemtransfer.core.storage import atomic_path

IMAGE = "image"


class Sections(Protocol):
    """Lazy, per-section access to a dataset (volume name, section index)."""

    def volumes(self) -> tuple[str, ...]: ...

    def indices(self, volume: str) -> list[int]: ...

    def image(self, volume: str, z: int) -> np.ndarray: ...

    def label(self, name: str, volume: str, z: int) -> np.ndarray: ...

    def labels(self) -> tuple[str, ...]: ...


def section_path(raw_dir: Path, volume: str, kind: str, z: int) -> Path:
    return raw_dir / "sections" / volume / kind / f"{z:05d}.tif"


def write_section(raw_dir: Path, volume: str, kind: str, z: int, array: np.ndarray) -> Path:
    """Store one 2D section atomically (uncompressed TIFF: fast to read back)."""
    if array.ndim != 2:
        raise ValueError(f"section {volume}/{kind}/{z} is {array.ndim}-D, expected 2-D")
    path = section_path(raw_dir, volume, kind, z)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array)
    return path


class SectionStore:
    """Reads the section store of one downloaded dataset."""

    def __init__(self, raw_dir: Path) -> None:
        self.root = Path(raw_dir) / "sections"
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} does not exist: run the download_dataset rule first")

    def volumes(self) -> tuple[str, ...]:
        return tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir()))

    def labels(self) -> tuple[str, ...]:
        kinds = {p.name for v in self.root.iterdir() for p in v.iterdir() if p.is_dir()}
        return tuple(sorted(kinds - {IMAGE}))

    def indices(self, volume: str) -> list[int]:
        return sorted(int(p.stem) for p in (self.root / volume / IMAGE).glob("*.tif"))

    def _read(self, volume: str, kind: str, z: int) -> np.ndarray:
        path = section_path(self.root.parent, volume, kind, z)
        try:
            array = tifffile.imread(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"section {z} of {volume!r} ({kind}) was not downloaded: {path}") from None
        except Exception as exc:  # tifffile raises several types on a damaged file
            raise ValueError(f"{path} is not a readable TIFF ({exc}); delete it and rerun download_dataset") from exc
        if array.ndim != 2:  # a damaged header can read as an empty page list instead of raising
            raise ValueError(f"{path} is not a readable 2-D TIFF (got shape {array.shape}); delete it and rerun download_dataset")
        return array

    def image(self, volume: str, z: int) -> np.ndarray:
        return self._read(volume, IMAGE, z)

    def label(self, name: str, volume: str, z: int) -> np.ndarray:
        return self._read(volume, name, z)


class ArraySections:
    """Sections of one volume (``main``) held as array-likes: numpy arrays, memory maps, Zarr arrays.

    ``check(name, z, section)`` may reject a label section as it is read (local volumes).
    """

    def __init__(self, image: Any, labels: Mapping[str, Any], check: Callable[[str, int, np.ndarray], None] | None = None) -> None:
        self._image, self._labels, self._check = image, dict(labels), check

    @property
    def shape(self) -> tuple[int, ...]:
        """The (z, y, x) shape of the image."""
        return tuple(self._image.shape)

    def volumes(self) -> tuple[str, ...]:
        return (MAIN,)

    def labels(self) -> tuple[str, ...]:
        return tuple(self._labels)

    def indices(self, volume: str) -> list[int]:
        return list(range(self._image.shape[0]))

    def image(self, volume: str, z: int) -> np.ndarray:
        return np.asarray(self._image[z])

    def label(self, name: str, volume: str, z: int) -> np.ndarray:
        section = np.asarray(self._labels[name][z])
        if self._check:
            self._check(name, z, section)
        return section
