"""The preprocessing a task's spec describes, as rules on sizes (no pixel is touched here).

A task's ``preprocess`` (crop, resize or a target pixel size, CLAHE order) is data; what it
means for shapes and voxel sizes is decided here once, for validation (regions against the
prepared plane), preparation, the report's Table 1 and the exported models alike. The pixel
operations themselves are :mod:`vemtransfer.data.prepare`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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
