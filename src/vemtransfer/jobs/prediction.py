"""predict_test, predict_volume and predict_task: chunked sliding-window predictions into Zarr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.checkpoint import load_model
from vemtransfer.config import Config
from vemtransfer.data import load_split
from vemtransfer.device import pick_device
from vemtransfer.volume import predict_to_zarr


def _predict(cfg: Config, model_file: str | Path, image: Any, out_zarr: str | Path, threads: int) -> dict[str, Any]:
    """Chunked sliding-window prediction with the evaluation settings, into a probability + mask Zarr."""
    torch.set_num_threads(threads)
    device, ev = pick_device(), cfg.evaluation
    return predict_to_zarr(load_model(model_file).to(device), image, out_zarr, cfg.patch_size, cfg.section("figures")["chunk"],
                           ev.overlap, ev.batch_size, device, cfg.section("train")["amp"], ev.threshold)


def predict_test_job(cfg: Config, model_file: str | Path, test_image: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Prediction of a model's test volume (its fold's), for Figs. 3 and 4."""
    return _predict(cfg, model_file, load_split(Path(test_image).parent, "test").image, out_zarr, threads)


def predict_volume_job(cfg: Config, model_file: str | Path, volume_npy: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Memory-bounded prediction of a prepared whole volume (read through a memory map)."""
    return _predict(cfg, model_file, np.load(volume_npy, mmap_mode="r"), out_zarr, threads)


def chosen_model(choice_json: str | Path, task: str, models: Sequence[str | Path], model_ids: Sequence[str]) -> Path:
    """The model file, among the rule's candidate ``models`` (whose ids are ``model_ids``), that
    the recommendation of ``task`` chose."""
    choice = json.loads(Path(choice_json).read_text())
    if choice["task"] != task:
        raise ValueError(f"{choice_json} chose a model for {choice['task']}, not {task}")
    if choice["model_id"] not in model_ids:
        raise ValueError(f"{choice_json} chose {choice['model_id']}, which is not among the candidate models {list(model_ids)}")
    return Path(models[list(model_ids).index(choice["model_id"])])


def predict_task_job(cfg: Config, task: str, choice_json: str | Path, models: Sequence[str | Path], model_ids: Sequence[str],
                     volume_npy: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Whole-volume prediction of ``task``'s dataset with the model its recommendation chose."""
    model = chosen_model(choice_json, task, models, model_ids)
    return {"model": str(model), **predict_volume_job(cfg, model, volume_npy, out_zarr, threads)}
