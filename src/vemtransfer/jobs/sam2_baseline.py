"""segment_sam2: SAM2.1 automatic masks or box(+mask) prompts on a task's raw test sections."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from vemtransfer.baselines import sam2
from vemtransfer.baselines.rows import parse_method
from vemtransfer.baselines.scoring import load_raw_split, write_scores
from vemtransfer.config import Config
from vemtransfer.core.device import pick_device
from vemtransfer.core.seeds import job_seed


def sam2_job(cfg: Config, task: str, method: str, test_image: str | Path, weights: str | Path | None, out_json: str | Path,
             out_npz: str | Path, threads: int = 1) -> dict[str, Any]:
    """Segment the raw test split (``test_image``) with SAM2.1 in the method's mode and score it."""
    torch.set_num_threads(threads)
    mode = parse_method(method)["mode"]
    b = cfg.section("baselines")
    spec = b["sam2"]
    images, labels, zs = load_raw_split(test_image, "test", b["sections"])
    part = spec[mode]
    params = ({"max_mask_fraction": part["max_mask_fraction"], **part["generator"]} if mode == "automatic"
              else {k: v for k, v in part.items() if k != "tasks"})
    start = time.perf_counter()
    torch.manual_seed(job_seed(cfg.seed, method, task))
    model = sam2.build(spec["model_cfg"], weights, pick_device())
    pred = sam2.segment_stack(model, images, labels if mode != "automatic" else None, mode, params)
    return write_scores(cfg, task, method, pred, labels, zs, out_json, out_npz, time.perf_counter() - start,
                        {"weights": str(weights), "model_cfg": spec["model_cfg"], "params": params})
