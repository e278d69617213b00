"""One Table 3 job (weights, raw-resolution data, SAM2, MitoNet inference or fine-tuning) from a config.

Each scores its binarised prediction with the same metrics code as our model (foreground IoU
and the fg/bg mean, over the whole selected test stack) and writes a metrics JSON with
provenance; the prediction itself is kept as a compressed ``.npz`` beside it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.baselines.design import parse_method, raw_split_dir
from vemtransfer.baselines.weights import fetch_weights
from vemtransfer.config import validate_config
from vemtransfer.data import split_paths
from vemtransfer.evaluate import git_commit
from vemtransfer.metrics import confusion, scores
from vemtransfer.prepare import prepare_raw_split
from vemtransfer.runs import raw_dir
from vemtransfer.sources import open_source
from vemtransfer.storage import atomic_path, write_json
from vemtransfer.train import job_seed, pick_device


def weights_run(raw_config: Mapping[str, Any], model: str, dest: str | Path) -> dict[str, Any]:
    """Download ``model``'s ('sam2' or 'mitonet') configured weights to ``dest``."""
    cfg = validate_config(raw_config)
    return fetch_weights(cfg.raw["baselines"][model]["weights"], dest)


def raw_split_run(raw_config: Mapping[str, Any], task_id: str, split: str) -> dict[str, Any]:
    """Write ``task_id``'s ``split`` at the raw resolution for the baselines."""
    cfg = validate_config(raw_config)
    task = cfg.tasks[task_id]
    spec = cfg.raw["sources"][task.source]
    sections = open_source(task.source, spec, raw_dir(cfg.raw, task.source))
    return prepare_raw_split(task, sections, split, raw_split_dir(cfg.raw, task_id), voxel_nm=spec.get("voxel_nm"))


def _load(raw: Mapping[str, Any], task: str, split: str, subset: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    image_path, label_path = split_paths(raw_split_dir(raw, task), split)
    image, label = np.load(image_path, mmap_mode="r"), np.load(label_path, mmap_mode="r")
    zs = list(range(len(image)))
    if subset:
        zs = zs[slice(*subset)]
        if not zs:
            raise ValueError(f"baselines.sections {subset} selects no {split} section of {task} (it has {len(image)})")
    return np.asarray(image[zs]), np.asarray(label[zs]), zs


def _score(raw_config: Mapping[str, Any], task: str, method: str, pred: np.ndarray, label: np.ndarray, sections: list[int],
           out_json: str | Path, seconds: float, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics JSON (and the prediction as ``<out>.npz``) of a binarised prediction."""
    cfg = validate_config(raw_config)
    with atomic_path(Path(out_json).with_suffix(".npz")) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, prediction=pred.astype(np.uint8), sections=np.asarray(sections))
    record = {"method": method, "task": task, **scores(confusion(pred, label)), "test_sections": sections,
              "seconds": round(seconds, 1), "device": str(pick_device()), **extra,
              "config_hash": cfg.hash, "git_commit": git_commit(Path(__file__).parent), "demo": cfg.demo}
    write_json(out_json, record)
    return record


def sam2_run(raw_config: Mapping[str, Any], task: str, method: str, weights: str | Path | None, out_json: str | Path, threads: int = 1) -> dict[str, Any]:
    """SAM2.1 automatic masks or box(+mask) prompts on ``task``'s raw test sections."""
    from vemtransfer.baselines import sam2

    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    mode = parse_method(method)["mode"]
    spec = cfg.raw["baselines"]["sam2"]
    images, labels, zs = _load(cfg.raw, task, "test", cfg.raw["baselines"]["sections"])
    part = spec[mode]
    params = ({"max_mask_fraction": part["max_mask_fraction"], **part["generator"]} if mode == "automatic"
              else {k: v for k, v in part.items() if k != "tasks"})
    start = time.perf_counter()
    torch.manual_seed(job_seed(cfg.seed, method, task))
    model = sam2.build(spec["model_cfg"], weights, pick_device())
    pred = sam2.segment_stack(model, images, labels if mode != "automatic" else None, mode, params)
    return _score(cfg.raw, task, method, pred, labels, zs, out_json, time.perf_counter() - start,
                  {"weights": str(weights), "model_cfg": spec["model_cfg"], "params": params})


def mitonet_run(raw_config: Mapping[str, Any], task: str, method: str, model_file: str | Path, out_json: str | Path, threads: int = 1) -> dict[str, Any]:
    """MitoNet (pretrained or fine-tuned) at the method's downsampling on ``task``'s raw test sections."""
    from vemtransfer.baselines import mitonet

    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    scale = parse_method(method)["scale"]
    engine = cfg.raw["baselines"]["mitonet"]["engine"]
    images, labels, zs = _load(cfg.raw, task, "test", cfg.raw["baselines"]["sections"])
    start = time.perf_counter()
    pred = mitonet.segment_stack(model_file, images, scale, engine, pick_device())
    return _score(cfg.raw, task, method, pred, labels, zs, out_json, time.perf_counter() - start,
                  {"model": str(model_file), "scale": scale, "engine": {**mitonet.ENGINE_DEFAULTS, **engine}})


def mitonet_finetune_run(raw_config: Mapping[str, Any], task: str, set_name: str, weights: str | Path, out_model: str | Path, threads: int = 1) -> dict[str, Any]:
    """Fine-tune MitoNet on patch set ``set_name`` of ``task``'s raw training sections."""
    from vemtransfer.baselines import mitonet

    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    ft = cfg.raw["baselines"]["mitonet"]["finetune"]
    patches = ft["sets"][set_name]
    images, labels, _ = _load(cfg.raw, task, "train")
    summary = mitonet.finetune(
        weights, images, labels, out_model, mode=patches["mode"], count=patches.get("count", 32), spacing=patches.get("spacing", ft["patch"]),
        patch=ft["patch"], iterations=ft["iterations"], batch_size=ft["batch_size"], finetune_layer=ft["finetune_layer"],
        workers=ft["workers"], amp=cfg.raw["train"]["amp"], seed=job_seed(cfg.seed, f"mitonet-{set_name}", task),
    )
    write_json(Path(out_model).with_suffix(".json"), {"task": task, "set": set_name, "weights": str(weights), **summary,
                                                      "config_hash": cfg.hash, "demo": cfg.demo})
    return summary

