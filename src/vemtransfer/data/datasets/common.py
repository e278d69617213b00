"""Small pieces shared by the download kinds: section selection, decoding, progress."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable

import cv2
import numpy as np
import tifffile
from tqdm import tqdm


def select(indices: Iterable[int], needed: list[int] | None) -> list[int]:
    """The available section indices a task needs (all of them for ``None``)."""
    available = sorted(indices)
    if needed is None:
        return available
    missing = sorted(set(needed) - set(available))
    if missing:
        raise ValueError(f"sections {missing[:5]}{'...' if len(missing) > 5 else ''} are not in the dataset")
    return sorted(needed)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """A 2-D array from the bytes of a TIFF or PNG file (first channel of an RGB PNG)."""
    if name.lower().endswith((".tif", ".tiff")):
        array = tifffile.imread(io.BytesIO(data))
    else:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise ValueError(f"{name}: not a decodable image")
    if array.ndim == 3:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected one 2-D section, got shape {array.shape}")
    return array


def png_bit_depth(data: bytes) -> int | None:
    """The bit depth in a PNG's IHDR chunk; None for anything that is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return data[24]


def binarise_mask(array: np.ndarray, data: bytes, threshold: float) -> np.ndarray:
    """0/1 uint8 from a decoded mask: set pixels of a 1-bit grayscale PNG, else values >= ``threshold``.

    Published binary masks mix the two (the Drosophila VNC mitochondria: some PNGs are 1-bit,
    the others 8-bit 0/255 with a few stray grey values), and a 1-bit image decodes to 0/1 or
    0/255 depending on the decoder, so its set pixels are taken as they are.
    """
    if png_bit_depth(data) == 1 and data[25] == 0:  # colour type 0: grayscale, no palette
        return (array != 0).astype(np.uint8)
    return (array >= threshold).astype(np.uint8)


def progress(items: list, desc: str) -> tqdm:
    return tqdm(items, desc=desc, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 10)
