"""Voxel size (nm) of prepared data, for figures, meshes and OME-Zarr predictions.

Its own module so that the prediction jobs (and their code digests) do not depend on the
plotting code of ``report``: editing a figure must not rerun predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

from vemtransfer.config import Config
from vemtransfer.config.preprocess import prepared_voxel_nm

UNIT_VOXEL = (1.0, 1.0, 1.0)


def task_spacing(cfg: Config, patches_json: str | Path) -> tuple[float, float, float]:
    """Prepared voxel size (nm) of a task, or unit voxels when its dataset gives none."""
    summary = json.loads(Path(patches_json).read_text())
    task = cfg.tasks[summary["task"]]
    raw_nm = cfg.raw["datasets"][task.dataset].get("voxel_nm")
    if not raw_nm:
        return UNIT_VOXEL
    return prepared_voxel_nm(raw_nm, summary["raw_section_shape"], summary["z_step"], summary.get("preprocess", task.preprocess))


def volume_spacing(volume_json: str | Path) -> tuple[float, float, float]:
    """Voxel size (nm) of a prepared whole volume, as its JSON records it (unit voxels if unknown)."""
    voxel = json.loads(Path(volume_json).read_text())["voxel_nm"]
    return tuple(voxel) if voxel else UNIT_VOXEL
