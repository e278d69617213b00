"""The preprocessing, described once: its constants, its size rules and its description in words.

A task's ``preprocess`` (crop, resize or a target pixel size, CLAHE order) is data; what it
means for shapes and voxel sizes is decided here once, for validation (regions against the
prepared plane), preparation, the report's Table 1 and the exported models alike. The pixel
operations themselves are :mod:`vemtransfer.data.prepare`'s (enhancement) and
:func:`vemtransfer.data.splits.normalise`'s (scaling), which read the constants below; the
exported models (``model.json``, the bioimage.io package) describe the same steps from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CLAHE_CLIP = 3.5
"""OpenCV CLAHE clip limit (the authors')."""
CLAHE_TILES = (8, 8)
"""OpenCV CLAHE tile grid."""
BLUR_KERNEL = (3, 3)
"""Gaussian blur after CLAHE: kernel (y, x) ..."""
BLUR_SIGMA = 0.5
"""... and sigma, in pixels."""
INTENSITY_CENTRE = 127.5
"""uint8 -> [-1, 1] as ``(x - INTENSITY_CENTRE) / INTENSITY_CENTRE``: the network's input scale."""
ENHANCE = (f"CLAHE (OpenCV, clip limit {CLAHE_CLIP:g}, {CLAHE_TILES[0]} x {CLAHE_TILES[1]} tiles), then Gaussian blur "
           f"({BLUR_KERNEL[0]} x {BLUR_KERNEL[1]} kernel, sigma {BLUR_SIGMA:g})")
NORMALISATION = (f"uint8 section -> CLAHE(clip {CLAHE_CLIP:g}, {CLAHE_TILES[0]}x{CLAHE_TILES[1]} tiles) -> "
                 f"GaussianBlur({BLUR_KERNEL[0]}x{BLUR_KERNEL[1]}, sigma {BLUR_SIGMA:g}) -> "
                 f"(x - {INTENSITY_CENTRE:g}) / {INTENSITY_CENTRE:g}")
"""The whole input path in one line (``model.json``'s ``normalisation``)."""


def resolve_preprocess(pp: Mapping[str, Any], voxel_nm: Sequence[float] | None, raw_shape: Sequence[int]) -> dict[str, Any]:
    """Turn ``voxel_yx_nm`` (a target pixel size) into ``resize_yx`` for sections of ``raw_shape``.

    The rule that brings a new volume to a pretraining task's scale: y/x are resized by
    the dataset's voxel / target voxel (after the crop), z is never resampled.
    """
    out = dict(pp)
    target = out.pop("voxel_yx_nm", None)
    if target is None:
        return out
    if not voxel_nm:
        raise ValueError("preprocess.voxel_yx_nm needs the dataset's voxel_nm")
    h, w = out.get("crop_yx", raw_shape)
    out["resize_yx"] = [max(1, round(h * voxel_nm[1] / target)), max(1, round(w * voxel_nm[2] / target))]
    return out


def prepared_voxel_nm(raw_nm: Sequence[float], raw_section_shape: Sequence[int], z_step: int, pp: Mapping[str, Any]) -> tuple[float, float, float]:
    """Voxel size (z, y, x, nm) after the z step, crop and resize of a task's preprocessing."""
    h, w = pp.get("crop_yx", raw_section_shape)
    out_h, out_w = pp.get("resize_yx", (h, w))
    return (raw_nm[0] * z_step, raw_nm[1] * h / out_h, raw_nm[2] * w / out_w)


def preprocess_steps(preprocess: Mapping[str, Any]) -> list[str]:
    """The per-section preprocessing in words, in the order :func:`vemtransfer.data.prepare.preprocess_image` applies it."""
    steps = []
    if "crop_yx" in preprocess:
        steps.append(f"keep the top-left {preprocess['crop_yx'][0]} x {preprocess['crop_yx'][1]} pixels (y x)")
    resize = None
    if "resize_yx" in preprocess:
        resize = (f"resize to {preprocess['resize_yx'][0]} x {preprocess['resize_yx'][1]} pixels (y x; "
                  "area interpolation when shrinking, cubic when enlarging)")
    elif "voxel_yx_nm" in preprocess:
        resize = f"resize y/x to {preprocess['voxel_yx_nm']} nm pixels (area / cubic interpolation)"
    if resize and preprocess.get("resize") == "after_clahe":
        steps += [ENHANCE, resize]
    else:
        steps += [s for s in (resize, ENHANCE) if s]
    return steps


def describe_preprocess(preprocess: Mapping[str, Any]) -> str:
    """The per-section preprocessing in one line (the bioimage.io rdf's ``training_preprocessing``)."""
    return " ".join(f"{i}. {s};" for i, s in enumerate(preprocess_steps(preprocess), 1)) + " each uint8 section separately"
