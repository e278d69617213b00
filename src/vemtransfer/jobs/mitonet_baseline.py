"""segment_mitonet and finetune_mitonet: MitoNet zero-shot or fine-tuned on a task's raw sections."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from vemtransfer.baselines import mitonet
from vemtransfer.baselines.rows import parse_method
from vemtransfer.baselines.scoring import load_raw_split, write_scores
from vemtransfer.config import Config
from vemtransfer.core.device import pick_device
from vemtransfer.core.seeds import job_seed
from vemtransfer.core.storage import write_json


def mitonet_job(cfg: Config, task: str, method: str, test_image: str | Path, model_file: str | Path, out_json: str | Path,
                out_npz: str | Path, threads: int = 1) -> dict[str, Any]:
    """MitoNet (pretrained or fine-tuned) at the method's downsampling on the raw test split, scored."""
    torch.set_num_threads(threads)
    scale = parse_method(method)["scale"]
    b = cfg.section("baselines")
    engine = b["mitonet"]["engine"]
    images, labels, zs = load_raw_split(test_image, "test", b["sections"])
    start = time.perf_counter()
    pred = mitonet.segment_stack(model_file, images, scale, engine, pick_device())
    return write_scores(cfg, task, method, pred, labels, zs, out_json, out_npz, time.perf_counter() - start,
                        {"model": str(model_file), "scale": scale, "engine": {**mitonet.ENGINE_DEFAULTS, **engine}})


def mitonet_finetune_job(cfg: Config, task: str, patch_set: str, train_image: str | Path, weights: str | Path, out_model: str | Path,
                         out_summary: str | Path, threads: int = 1) -> dict[str, Any]:
    """Fine-tune MitoNet on patch set ``patch_set`` of the raw training split (``train_image``)."""
    torch.set_num_threads(threads)
    ft = cfg.section("baselines")["mitonet"]["finetune"]
    patches = ft["sets"][patch_set]
    images, labels, _ = load_raw_split(train_image, "train")
    summary = mitonet.finetune(
        weights, images, labels, out_model, mode=patches["mode"], count=patches.get("count", 32), spacing=patches.get("spacing", ft["patch"]),
        patch=ft["patch"], iterations=ft["iterations"], batch_size=ft["batch_size"], finetune_layer=ft["finetune_layer"],
        workers=ft["workers"], amp=cfg.section("train")["amp"], seed=job_seed(cfg.seed, f"mitonet-{patch_set}", task),
    )
    write_json(out_summary, {"task": task, "set": patch_set, "weights": str(weights), **summary, "config_hash": cfg.hash, "demo": cfg.demo})
    return summary
