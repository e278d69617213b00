"""evaluate_model: score one trained model on its target's whole test volume, with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vemtransfer.config import Config
from vemtransfer.core.device import pick_device
from vemtransfer.core.provenance import git_commit
from vemtransfer.core.storage import write_json
from vemtransfer.data.splits import load_split
from vemtransfer.inference.predict import channels_last_on
from vemtransfer.model.checkpoint import read_model_file
from vemtransfer.training.evaluate import evaluate_model

MODEL_PROVENANCE = ("config_hash", "git_commit")


def evaluate_job(cfg: Config, model_id: str, target: str, model_path: str | Path, test_image: str | Path, out_json: str | Path,
                 threads: int = 1) -> dict[str, Any]:
    """Score ``model_path`` on the test split whose image is ``test_image``; write the metrics JSON.

    The record carries the model's own provenance (``model_config_hash``: the training job's
    config; ``model_git_commit``) beside this job's, so a score names what trained the model.
    """
    torch.set_num_threads(threads)
    meta = {k: v for k, v in read_model_file(model_path).items() if k != "state_dict"}
    if meta["target"] != target:
        raise ValueError(f"{model_path} was trained for {meta['target']}, asked to evaluate on {target}")
    test = load_split(Path(test_image).parent, "test")
    train = cfg.section("train")
    device = pick_device()
    channels_last = channels_last_on(device, train["channels_last"], train["cuda_channels_last"])
    window = tuple(meta.get("patch_size") or cfg.patch_size)  # the window the model was trained with (its plan's)
    result = evaluate_model(model_path, test, window, cfg.evaluation, device, train["amp"], channels_last)
    record = {
        "model_id": model_id, **{k: meta[k] for k in ("source", "target", "budget", "rep", "seed")}, "fold": cfg.tasks[target].fold(meta["rep"]),
        **result, "checkpoint": str(model_path), "selected_step": meta.get("selected_step"),
        **{f"model_{k}": meta.get(k) for k in MODEL_PROVENANCE},
        "config_hash": cfg.hash, "git_commit": git_commit(), "demo": cfg.demo,
    }
    write_json(out_json, record)
    return record
