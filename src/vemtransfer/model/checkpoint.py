"""Saving trained models and moving weights from a pretrained model into a new one.

A model file is a plain dict of tensors and numbers, loadable with
``torch.load(..., weights_only=True)`` (no pickled code runs when a user loads a model
from elsewhere). Weight transfer follows nnU-Net's ``load_pretrained_weights``: match by
name and shape, refuse anything unexpected, and say what was transferred. Fine-tuning in
the paper loads every weight (BatchNorm statistics and the output head included) and
freezes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vemtransfer.core.storage import save_torch
from vemtransfer.model.network import RSUNet

log = logging.getLogger(__name__)


def save_model(path: str | Path, model: RSUNet, meta: dict[str, Any]) -> None:
    """Write weights plus what is needed to rebuild the network (widths, BN momentum, planar levels) and ``meta``.

    Tensors are saved contiguous, whatever memory format training used (channels_last).
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_torch(path, {"state_dict": state, **architecture(model), **meta})


def architecture(model: RSUNet) -> dict[str, Any]:
    """What rebuilds the network: ``RSUNet(**architecture(model))``."""
    return {"widths": list(model.widths), "bn_momentum": model.bn_momentum, "planar_levels": model.planar_levels}


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Load a model file safely (``weights_only=True``); clear error if it is not one."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt files
        raise ValueError(f"{path} is not a readable vemtransfer model file: {exc}") from exc
    if not isinstance(blob, dict) or "state_dict" not in blob or "widths" not in blob:
        raise ValueError(f"{path} is not a vemtransfer model file (no state_dict/widths)")
    return blob


def load_model(path: str | Path) -> RSUNet:
    """Rebuild the network stored in ``path`` with its weights."""
    blob = read_model_file(path)
    model = RSUNet(blob["widths"], blob["bn_momentum"], blob.get("planar_levels", 0))  # files before planar_levels: 0
    model.load_state_dict(blob["state_dict"])
    return model


def load_pretrained_weights(model: RSUNet, path: str | Path) -> int:
    """Copy every weight of the model in ``path`` into ``model``; return how many tensors.

    Raises ``ValueError`` naming the first mismatch if any key is missing, extra, or of a
    different shape, so a fine-tune never starts silently from a half-random network.
    """
    source = read_model_file(path)["state_dict"]
    target = model.state_dict()
    missing = sorted(set(target) - set(source))
    extra = sorted(set(source) - set(target))
    if missing or extra:
        raise ValueError(f"{path}: weights do not match the network (missing {missing[:3]}, unexpected {extra[:3]})")
    for key, value in source.items():
        if value.shape != target[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, network expects {tuple(target[key].shape)}")
    model.load_state_dict(source)
    log.info("transferred %d tensors (%d values) from %s", len(source), sum(v.numel() for v in source.values()), path)
    return len(source)
