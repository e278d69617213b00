"""pretrain_model and finetune_model: train the models of the grid."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vemtransfer.config import Config
from vemtransfer.config.grid import PRETRAIN_BUDGET, budget_size
from vemtransfer.core.provenance import git_commit
from vemtransfer.core.seeds import job_seed
from vemtransfer.data.splits import load_split
from vemtransfer.model.checkpoint import read_model_file
from vemtransfer.planning.plan import apply_plan, read_plan, window_cells
from vemtransfer.training.train import train_model


def train_job(cfg: Config, source: str, target: str, budget: str, rep: int, patch_index: str | Path, out_model: str | Path,
              init: str | Path | None, threads: int = 1, plan: str | Path | None = None, horizon: int | None = None,
              stop_at: int | None = None, resume_from: str | Path | None = None) -> dict[str, Any]:
    """Train the model of one run into ``out_model``'s folder from the prepared data of
    ``patch_index``; returns the training history. Reads only the train and validation splits.
    ``plan``: the task's ``plan.json``, whose choices replace the config's when it says ``apply``.
    A rung of the fast protocol (:mod:`vemtransfer.jobs.rungs`): ``horizon`` steps in all,
    this job ending at ``stop_at`` and resuming ``resume_from``."""
    torch.set_num_threads(threads)
    cfg = apply_plan(cfg, read_plan(plan) if plan else None, read_model_file(init)["planar_levels"] if init and plan else None)
    folder = Path(patch_index).parent
    index = json.loads(Path(patch_index).read_text())
    k = budget_size(budget, len(index["origins"]))
    origins = [tuple(index["origins"][i]) for i in index["subset_order"][:k]]
    train = load_split(folder, "train")
    origins = window_cells(origins, train.blocks, cfg.patch_size[0])  # cells of volumes thinner than the window: none to place it in
    if not origins:
        raise ValueError(f"{folder}: no training volume is {cfg.patch_size[0]} sections deep (blocks {list(train.blocks or [])}); "
                         "isolated sections train with depth-1 windows (plan.apply: true, or patches.size [1, y, x])")
    # The seed leaves the source out: every source (and NoPretrain) fine-tuned on the same
    # target, budget and repeat sees the same batches, so sources are compared paired.
    seed = job_seed(cfg.seed, "train", target, budget, rep)
    meta = {"source": source, "target": target, "budget": budget, "rep": rep, "seed": seed,
            "config_hash": cfg.hash, "git_commit": git_commit(), "demo": cfg.demo, "patch_size": list(cfg.patch_size),
            "plan": str(plan) if plan else None}
    stage = "pretrain" if budget == PRETRAIN_BUDGET else "finetune"
    data_id = cfg.tasks[target].data_id(rep)
    train_cfg = cfg.train_config(stage)
    if horizon is not None:
        train_cfg = replace(train_cfg, steps=horizon)
    return train_model(
        train, load_split(folder, "val"), origins, cfg.patch_size,
        train_cfg, cfg.model, cfg.evaluation, Path(out_model).parent, seed,
        init=init, meta=meta, sparse=cfg.tasks[target].labelled is not None,
        val_seed=job_seed(cfg.seed, "validation", data_id),
        cell_size=_cell_size(index, cfg, folder), stop_at=stop_at, resume_from=resume_from,
    )


def _cell_size(index: Mapping[str, Any], cfg: Config, folder: Path) -> tuple[int, int, int] | None:
    """The budget cell of data prepared for random sampling (None: patch-sized tiles); the two must agree."""
    cells = index.get("budget_unit") == "cell"
    sampling = cfg.section("train")["sampling"]
    if cells != (sampling == "random"):
        raise ValueError(f"{folder}/patches.json holds {'cells' if cells else 'tiles'} but train.sampling is "
                         f"{sampling!r}: prepare the task again")
    return tuple(index["stride"]) if cells else None

