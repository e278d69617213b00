"""Sliding-window inference over whole volumes with overlap blending.

The authors scored only training-sized tiles; we predict the entire test volume with
overlapping windows whose outputs are blended with a smooth (Gaussian) weight, so voxels
near a window border, where the network sees little context, count less. Volumes smaller
than one window along an axis are mirror-padded and cropped back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch

from vemtransfer.data.splits import normalise
from vemtransfer.inference.tiling import WindowGrid


def blend_weight(size: tuple[int, ...]) -> np.ndarray:
    """Separable Gaussian weight (sigma = size / 8 per axis, floor 1e-2), as nnU-Net blends."""
    w = np.ones(size, dtype=np.float32)
    for axis, n in enumerate(size):
        x = np.arange(n, dtype=np.float32) - (n - 1) / 2
        g = np.exp(-0.5 * (x / max(n / 8, 0.5)) ** 2)
        shape = [1] * len(size)
        shape[axis] = n
        w = w * (g / g.max()).reshape(shape)
    return np.maximum(w, 1e-2)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """fp16 autocast on CUDA when enabled; a no-op elsewhere (CPU inference runs in fp32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (avx512_bf16 / AMX); elsewhere oneDNN emulates it, many times slower."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private oneDNN query: absent from some builds
        return False


def training_precision(device: torch.device, amp: bool, cpu_precision: str, cuda_precision: str = "fp16") -> str:
    """``cuda_precision`` (CUDA with amp: fp16 or bf16), ``bf16`` (CPU, asked for, or ``auto`` on a CPU
    with native bf16) or ``fp32``."""
    if device.type == "cuda":
        return cuda_precision if amp else "fp32"
    if device.type == "cpu" and (cpu_precision == "bf16" or (cpu_precision == "auto" and cpu_bf16_native())):
        return "bf16"
    return "fp32"


def precision_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of a :func:`training_precision`."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last_3d if channels_last else torch.contiguous_format


def channels_last_on(device: torch.device, cpu_setting: bool, cuda_setting: bool) -> bool:
    """Whether to use channels_last_3d on ``device``: ``train.cuda_channels_last`` on CUDA, ``train.channels_last`` elsewhere."""
    return cuda_setting if device.type == "cuda" else cpu_setting


@torch.no_grad()
def predict_volume(
    model: torch.nn.Module,
    image: np.ndarray,
    patch_size: tuple[int, int, int],
    overlap: float = 0.5,
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    amp: bool = True,
    channels_last: bool = False,
    blocks: Sequence[int] | None = None,
) -> np.ndarray:
    """Foreground probability (float32, same shape) of a uint8 (z, y, x) volume.

    ``channels_last``: run in the channels_last_3d memory format (the model is converted in place).
    ``blocks``: sections per stacked volume (a split of several labelled blocks); each is
    predicted on its own, so no window sees two unrelated volumes as neighbours.
    """
    if blocks is not None and len(blocks) > 1:
        if sum(blocks) != len(image) or min(blocks) < 1:
            raise ValueError(f"blocks {list(blocks)} do not split the {len(image)} sections into volumes")
        edges = np.cumsum([0, *blocks])
        return np.concatenate([predict_volume(model, image[a:b], patch_size, overlap, batch_size, device, amp, channels_last)
                               for a, b in zip(edges[:-1], edges[1:])])
    device = torch.device(device)
    fmt = memory_format(channels_last)
    model.to(memory_format=fmt)
    pad = [(0, max(0, p - n)) for n, p in zip(image.shape, patch_size)]
    padded = np.pad(np.asarray(image), pad, mode="symmetric") if any(b for _, b in pad) else image
    weight = blend_weight(patch_size)
    acc = np.zeros(padded.shape, dtype=np.float32)
    norm = np.zeros(padded.shape, dtype=np.float32)
    was_training = model.training
    model.eval()
    windows = [tuple(slice(s, s + p) for s, p in zip(w, patch_size)) for w in WindowGrid.of(padded.shape, patch_size, overlap).windows()]
    try:
        for i in range(0, len(windows), batch_size):
            batch = windows[i : i + batch_size]
            x = torch.from_numpy(np.stack([normalise(padded[w]) for w in batch])[:, None]).to(device, memory_format=fmt)
            with autocast(device, amp):
                prob = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
            for w, p in zip(batch, prob):
                acc[w] += p * weight
                norm[w] += weight
    finally:
        model.train(was_training)
    out = acc / norm
    return out[tuple(slice(0, n) for n in image.shape)]


@torch.no_grad()
def predict_crops(
    model: torch.nn.Module,
    image: np.ndarray,
    origins: list[tuple[int, int, int]],
    size: tuple[int, int, int],
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    amp: bool = True,
    channels_last: bool = False,
) -> np.ndarray:
    """Foreground probability (n, z, y, x) of crops of ``size`` at ``origins``, each one network window.

    The cheap validation of model selection: a fixed set of crops instead of a sliding window
    over the whole split. Crop y/x must suit the network's poolings.
    """
    device, fmt = torch.device(device), memory_format(channels_last)
    model.to(memory_format=fmt)
    boxes = [tuple(slice(o, o + p) for o, p in zip(origin, size)) for origin in origins]
    out = np.empty((len(boxes), *size), np.float32)
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(boxes), batch_size):
            x = torch.from_numpy(np.stack([normalise(image[b]) for b in boxes[i : i + batch_size]])[:, None]).to(device, memory_format=fmt)
            with autocast(device, amp):
                out[i : i + len(x)] = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
    finally:
        model.train(was_training)
    return out
