"""Sliding-window inference over whole volumes with overlap blending.

The authors scored only training-sized tiles; we predict the entire test volume with
overlapping windows whose outputs are blended with a smooth (Gaussian) weight, so voxels
near a window border, where the network sees little context, count less. Volumes smaller
than one window along an axis are mirror-padded and cropped back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from vemtransfer.data import normalise


def window_starts(n: int, p: int, overlap: float) -> list[int]:
    """Window starts covering ``[0, n)`` with windows of ``p`` overlapping by ``overlap``;
    the last window is flush with the far edge."""
    if n <= p:
        return [0]
    step = max(1, int(round(p * (1 - overlap))))
    starts = list(range(0, n - p + 1, step))
    if starts[-1] != n - p:
        starts.append(n - p)
    return starts


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
    """fp16 autocast on CUDA when enabled; a no-op elsewhere (CPU runs in fp32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _windows(shape: tuple[int, ...], size: tuple[int, ...], overlap: float) -> Iterator[tuple[slice, ...]]:
    starts = [window_starts(n, p, overlap) for n, p in zip(shape, size)]
    for z in starts[0]:
        for y in starts[1]:
            for x in starts[2]:
                yield tuple(slice(o, o + p) for o, p in zip((z, y, x), size))


@torch.no_grad()
def predict_volume(
    model: torch.nn.Module,
    image: np.ndarray,
    patch_size: tuple[int, int, int],
    overlap: float = 0.5,
    batch_size: int = 4,
    device: torch.device | str = "cpu",
    amp: bool = True,
) -> np.ndarray:
    """Foreground probability (float32, same shape) of a uint8 (z, y, x) volume."""
    device = torch.device(device)
    pad = [(0, max(0, p - n)) for n, p in zip(image.shape, patch_size)]
    padded = np.pad(np.asarray(image), pad, mode="symmetric") if any(b for _, b in pad) else image
    weight = blend_weight(patch_size)
    acc = np.zeros(padded.shape, dtype=np.float32)
    norm = np.zeros(padded.shape, dtype=np.float32)
    was_training = model.training
    model.eval()
    windows = list(_windows(padded.shape, patch_size, overlap))
    try:
        for i in range(0, len(windows), batch_size):
            batch = windows[i : i + batch_size]
            x = torch.from_numpy(np.stack([normalise(padded[w]) for w in batch])[:, None]).to(device)
            with autocast(device, amp):
                prob = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
            for w, p in zip(batch, prob):
                acc[w] += p * weight
                norm[w] += weight
    finally:
        model.train(was_training)
    out = acc / norm
    return out[tuple(slice(0, n) for n in image.shape)]
