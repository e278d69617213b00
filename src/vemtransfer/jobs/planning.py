"""plan_task: the plan (plan.json) of one prepared task or fold, from its training split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.planning.plan import plan_task


def plan_task_job(cfg: Config, data_id: str, patch_index: str | Path, out_plan: str | Path) -> dict[str, Any]:
    """Fingerprint and plan the prepared data ``data_id`` (beside ``patch_index``) into ``out_plan``."""
    task = cfg.tasks[data_id.split("/")[0]]
    voxel_nm = cfg.section("datasets")[task.dataset].get("voxel_nm")
    return plan_task(Path(patch_index).parent, cfg.raw, voxel_nm, out_plan)
