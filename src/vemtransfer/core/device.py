"""The device a job runs on."""

from __future__ import annotations

import torch

from vemtransfer.core import gpu_slots


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when present (or the device named), else CPU.

    On a machine with several GPUs the job claims one of its own (``gpu_slots``: a slot per
    visible device, held until the job exits) and makes it the current CUDA device."""
    if name:
        return torch.device(name)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    index = gpu_slots.claim(gpu_slots.device_count())
    torch.cuda.set_device(index)
    return torch.device("cuda", index)
