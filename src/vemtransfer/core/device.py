"""The device a job runs on."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when present (or the device named), else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
