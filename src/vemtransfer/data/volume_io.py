"""Reading a lab's volume lazily, whatever it was saved as.

Users' volumes come as one multi-page TIFF, a folder of per-section TIFFs or PNGs (what most
acquisition software and annotation tools write), a ``.npy`` file, a Zarr array or group, or
an OME-Zarr image (its full-resolution level); a single 2-D image (one TIFF page, one PNG, a
2-D ``.npy``) is a volume of one section. :func:`open_volume` returns something with
``shape``, ``dtype`` and numpy-style slicing for all of them, reading only the sections asked
for, so preparing or predicting a large volume never loads it whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")
SECTION_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG"}
"""Suffix -> format of the per-section files a folder may hold (one format per folder)."""


def natural_key(name: str) -> tuple[tuple[Any, ...], str]:
    """Sort key that orders the numbers inside names by value: ``s2.png`` before ``s10.png``
    (exporters rarely pad section numbers with zeros)."""
    parts = re.split(r"(\d+)", name)  # text at even positions, digits at odd ones
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name  # name: s02 and s2 in a fixed order


def section_files(folder: Path) -> list[Path]:
    """The section files of a folder in natural order; hidden files (``._s1.png`` from macOS) and
    files of other kinds are ignored, two image formats in one folder are an error."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in SECTION_FORMATS and not p.name.startswith(".")]
    formats = sorted({SECTION_FORMATS[p.suffix.lower()] for p in files})
    if not files:
        raise ValueError(f"{folder}: no section files in this folder (.tif, .tiff or .png)")
    if len(formats) > 1:
        raise ValueError(f"{folder}: mixes {' and '.join(formats)} sections; keep one format per folder")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_section(path: Path) -> np.ndarray:
    """One 2-D section from a TIFF or PNG file; RGB(A) whose colour channels are equal (grey
    saved as colour, common in annotation exports) is read as grey, alpha ignored."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        array = tifffile.imread(path)
    else:
        import cv2

        array = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)  # fromfile: any path encoding
        if array is None:
            raise ValueError(f"{path}: not a readable PNG")
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        colour = array[..., :3]
        if not (np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2])):
            raise ValueError(f"{path}: colour image whose channels differ; save sections as grayscale")
        array = colour[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{path}: expected one 2-D section per file, got shape {array.shape}")
    return array


class SectionFolder:
    """A folder of single-section TIFFs or PNGs as a lazy (z, y, x) volume, sections in natural file-name order."""

    def __init__(self, folder: Path) -> None:
        self.files = section_files(folder)
        first = read_section(self.files[0])
        self.shape = (len(self.files), *first.shape)
        self.dtype = first.dtype

    def _section(self, z: int) -> np.ndarray:
        section = read_section(self.files[z])
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
    """A lazily readable (z, y, x) volume from a multi-page TIFF, a folder of TIFF or PNG sections, a
    .npy file, a Zarr array, a Zarr group's 'image' array or an OME-Zarr image (full resolution);
    a 2-D TIFF, PNG or .npy is one section, so a single image can be predicted like a stack."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and suffix != ".zarr":
        return SectionFolder(path)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            volume = tifffile.memmap(path, mode="r")
        except ValueError:  # compressed or tiled: read it (sections are small next to RAM)
            volume = tifffile.imread(path)
        return volume[np.newaxis] if volume.ndim == 2 else volume
    if suffix == ".png":
        return read_section(path)[np.newaxis]
    if suffix == ".npy":
        volume = np.load(path, mmap_mode="r")
        return volume[np.newaxis] if volume.ndim == 2 else volume
    if suffix == ".zarr":
        return _zarr_image(path)
    raise ValueError(f"{path}: unsupported volume format (use .tif/.tiff, .png, a folder of TIFF or PNG sections, .npy or .zarr)")
