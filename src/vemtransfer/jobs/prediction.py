"""predict_test, predict_blocks and assemble_prediction: sliding-window predictions into OME-Zarr.

A model's test volume is small and predicted by one job. Whole volumes (Fig. 5, a
recommend task's ``prediction.zarr``) are predicted blockwise: ``prediction.jobs`` block
jobs, then one assembling job (``volume.py`` says why the result does not depend on the
split).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.config import Config
from vemtransfer.core.device import pick_device
from vemtransfer.data.spacing import task_spacing, volume_spacing
from vemtransfer.data.splits import load_split
from vemtransfer.inference.runners import Runner, make_runner
from vemtransfer.inference.tiling import BlockPlan
from vemtransfer.inference.volume import assemble_prediction, plan_for, predict_blocks, predict_to_zarr
from vemtransfer.model.checkpoint import load_model
from vemtransfer.planning.plan import model_window


def _runner(cfg: Config, model_file: str | Path, threads: int) -> Runner:
    """The model on ``prediction.engine`` (the GPU when there is one)."""
    torch.set_num_threads(threads)
    return make_runner(cfg.section("prediction")["engine"], load_model(model_file), pick_device(), model_window(model_file, cfg.patch_size),
                       cfg.section("train")["amp"], threads)


def _plan(cfg: Config, shape: Sequence[int], model_file: str | Path) -> BlockPlan:
    ev, spec = cfg.evaluation, cfg.section("prediction")
    return plan_for(shape, model_window(model_file, cfg.patch_size), ev.overlap, spec["block"])


def predict_test_job(cfg: Config, model_file: str | Path, test_image: str | Path, patches_json: str | Path,
                     out_store: str | Path, threads: int = 1) -> dict[str, Any]:
    """A model's prediction of its fold's test volume (Figs. 3 and 4), in one job."""
    ev, spec = cfg.evaluation, cfg.section("prediction")
    test = load_split(Path(test_image).parent, "test")
    if test.blocks is not None and len(test.blocks) > 1:  # one OME-Zarr image per figure panel: a stack would join them
        raise ValueError(f"{test_image}: the test split holds {len(test.blocks)} volumes ({list(test.blocks)} sections); "
                         "a figure shows a test region of one volume")
    image = test.image
    return predict_to_zarr(_runner(cfg, model_file, threads), image, out_store, model_window(model_file, cfg.patch_size), spec["chunk"], ev.overlap,
                           ev.batch_size, ev.threshold, spec["block"], task_spacing(cfg, patches_json),
                           {"model": str(model_file)}, progress=True)


def chosen_model(choice_json: str | Path, task: str, models: Sequence[str | Path], model_ids: Sequence[str]) -> Path:
    """The model file, among the rule's candidate ``models`` (whose ids are ``model_ids``), that
    the recommendation of ``task`` chose."""
    choice = json.loads(Path(choice_json).read_text())
    if choice["task"] != task:
        raise ValueError(f"{choice_json} chose a model for {choice['task']}, not {task}")
    if choice["model_id"] not in model_ids:
        raise ValueError(f"{choice_json} chose {choice['model_id']}, which is not among the candidate models {list(model_ids)}")
    return Path(models[list(model_ids).index(choice["model_id"])])


def prediction_model(prediction: dict[str, Any], inputs: Any) -> Path:
    """The model a whole-volume prediction uses: its only candidate (Fig. 5) or, for a recommend
    task, the candidate its ``choice`` (chosen_model.json) names. ``prediction`` holds the
    prediction ``key`` and candidate ``model_ids``; ``inputs`` the ``models`` (and ``choice``)."""
    models = list(inputs["models"])
    if "choice" in inputs.keys():
        return chosen_model(inputs["choice"], prediction["key"], models, prediction["model_ids"])
    return Path(models[0])


def predict_blocks_job(cfg: Config, model_file: str | Path, volume_npy: str | Path, job: int, out_dir: str | Path,
                       threads: int = 1) -> dict[str, Any]:
    """Block job ``job`` (0-based) of ``prediction.jobs`` over a prepared whole volume (memory-mapped)."""
    image = np.load(volume_npy, mmap_mode="r")
    plan = _plan(cfg, image.shape, model_file)
    blocks = plan.job_blocks(job, cfg.section("prediction")["jobs"])
    summary = predict_blocks(_runner(cfg, model_file, threads), image, plan, blocks, out_dir, cfg.evaluation.batch_size)
    return {"model": str(model_file), **summary}


def assemble_job(cfg: Config, part_dirs: Sequence[str | Path], volume_npy: str | Path, volume_json: str | Path,
                 out_store: str | Path, model: str | Path) -> dict[str, Any]:
    """The OME-Zarr of a whole volume from its block jobs' partial sums (in nm when the dataset gives a voxel size)."""
    shape = np.load(volume_npy, mmap_mode="r").shape
    spec, ev = cfg.section("prediction"), cfg.evaluation
    return assemble_prediction(_plan(cfg, shape, model), part_dirs, out_store, spec["chunk"], volume_spacing(volume_json), ev.threshold,
                               {"model": str(model)})
