"""Score a trained model on its target's whole test volume and record where it came from."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.config import EvalConfig
from vemtransfer.data.splits import Volume
from vemtransfer.inference.predict import predict_volume
from vemtransfer.model.checkpoint import load_model
from vemtransfer.model.metrics import confusion, scores


def evaluate_model(model_path: str | Path, test: Volume, patch_size: tuple[int, int, int], cfg: EvalConfig, device: torch.device, amp: bool = True,
                   channels_last: bool = False) -> dict[str, Any]:
    """Sliding-window prediction over ``test`` (volume block by block), thresholded, scored against its label."""
    if not len(test.image):
        raise ValueError(f"{model_path}: the target task has no test region to score on")
    model = load_model(model_path).to(device)
    prob = predict_volume(model, test.image, patch_size, cfg.overlap, cfg.batch_size, device, amp, channels_last, test.blocks)
    counts = confusion(prob > cfg.threshold, np.asarray(test.label))
    return {"scores": scores(counts), "counts": asdict(counts), "threshold": cfg.threshold, "test_shape": list(test.image.shape)}

