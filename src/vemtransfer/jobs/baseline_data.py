"""download_weights and prepare_raw_split: the inputs of the Table 3 baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vemtransfer.baselines.weights import fetch_weights
from vemtransfer.config import Config
from vemtransfer.data.prepare import prepare_raw_split
from vemtransfer.jobs.preparation import dataset_sections


def weights_job(cfg: Config, model: str, dest: str | Path) -> dict[str, Any]:
    """Download ``model``'s ('sam2' or 'mitonet') configured weights to ``dest``."""
    return fetch_weights(cfg.section("baselines")[model]["weights"], dest)


def raw_split_job(cfg: Config, task_id: str, split: str, manifest: str | Path | None, out_image: str | Path) -> dict[str, Any]:
    """Write ``task_id``'s ``split`` at the raw resolution for the baselines, into ``out_image``'s folder."""
    task = cfg.tasks[task_id]
    spec = cfg.section("datasets")[task.dataset]
    return prepare_raw_split(task, dataset_sections(cfg, task.dataset, manifest), split, Path(out_image).parent, voxel_nm=spec.get("voxel_nm"))
