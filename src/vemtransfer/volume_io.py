"""Reading a lab's volume lazily, whatever it was saved as.

Users' volumes come as one multi-page TIFF, a folder of per-section TIFFs (what most
acquisition software writes), a ``.npy`` file, a Zarr array or group, or an OME-Zarr image
(its full-resolution level). :func:`open_volume` returns something with ``shape``,
``dtype`` and numpy-style slicing for all of them, reading only the sections asked for, so
preparing or predicting a large volume never loads it whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")


class TiffFolder:
    """A folder of single-section TIFFs as a lazy (z, y, x) volume, sections in file-name order."""

    def __init__(self, folder: Path) -> None:
        import tifffile

        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES)
        if not self.files:
            raise ValueError(f"{folder}: no .tif/.tiff files in this folder")
        first = tifffile.imread(self.files[0])
        if first.ndim != 2:
            raise ValueError(f"{self.files[0]}: expected one 2-D section per file, got shape {first.shape}")
        self.shape = (len(self.files), *first.shape)
        self.dtype = first.dtype

    def _section(self, z: int) -> np.ndarray:
        import tifffile

        section = tifffile.imread(self.files[z])
        if section.shape != self.shape[1:] or section.dtype != self.dtype:
            raise ValueError(f"{self.files[z]}: {section.dtype} {section.shape} differs from the first section's {self.dtype} {self.shape[1:]}")
        return section

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        zs = range(self.shape[0])[key[0]]
        if isinstance(zs, int):
            return self._section(zs)[key[1:]]
        return np.stack([self._section(z) for z in zs]).reshape(len(zs), *self.shape[1:])[(slice(None), *key[1:])]


def _zarr_image(path: Path) -> Any:
    import zarr

    node = zarr.open(str(path), mode="r")
    if not hasattr(node, "keys"):
        return node
    multiscales = node.attrs.get("multiscales") or node.attrs.get("ome", {}).get("multiscales")
    if multiscales:  # OME-Zarr: the first dataset is the full resolution
        return node[multiscales[0]["datasets"][0]["path"]]
    if "image" in node:
        return node["image"]
    raise ValueError(f"{path}: Zarr group without an 'image' array or OME-Zarr multiscales (it has {sorted(node.keys())})")


def open_volume(path: str | Path) -> Any:
    """A lazily readable (z, y, x) volume from a multi-page TIFF, a folder of TIFFs, a .npy file,
    a Zarr array, a Zarr group's 'image' array or an OME-Zarr image (full resolution)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and suffix != ".zarr":
        return TiffFolder(path)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            return tifffile.memmap(path, mode="r")
        except ValueError:  # compressed or tiled: read it (sections are small next to RAM)
            return tifffile.imread(path)
    if suffix == ".npy":
        return np.load(path, mmap_mode="r")
    if suffix == ".zarr":
        return _zarr_image(path)
    raise ValueError(f"{path}: unsupported volume format (use .tif/.tiff, a folder of TIFFs, .npy or .zarr)")
