"""Training data: prepared splits, patch tiling, nested label budgets and augmentation.

Prepared splits are uint8 ``.npy`` files read through memory maps, so a training job
touches only the patches it samples. Every random choice (which patches form a batch,
how each is augmented) is a pure function of ``(seed, step)``: a job resumed from a
checkpoint at step ``k`` draws exactly the batches an uninterrupted job would have drawn,
and worker processes need no shared random state.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vemtransfer.config import TrainConfig

SPLITS = ("train", "val", "test")
IGNORE = 255
"""Label value of the sections of a sparsely annotated task that nobody labelled: not scored, no loss."""


@dataclass(frozen=True)
class Volume:
    """A prepared split: uint8 image (after CLAHE and blur) and uint8 label (0/1, :data:`IGNORE`
    on unlabelled sections), both (z, y, x)."""

    image: np.ndarray
    label: np.ndarray


def split_paths(task_dir: str | Path, split: str) -> tuple[Path, Path]:
    """Where ``prepare`` writes the image and label of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    task_dir = Path(task_dir)
    return task_dir / f"{split}.image.npy", task_dir / f"{split}.label.npy"


def load_split(task_dir: str | Path, split: str) -> Volume:
    """Memory-map one prepared split; fails with the path if it is missing or corrupt."""
    image_path, label_path = split_paths(task_dir, split)
    try:
        image = np.load(image_path, mmap_mode="r")
        label = np.load(label_path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"prepared split {split!r} of {task_dir} is unreadable: {exc}") from exc
    if image.shape != label.shape or image.ndim != 3:
        raise ValueError(f"{task_dir}/{split}: image {image.shape} and label {label.shape} differ")
    return Volume(image, label)


def normalise(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1], the authors' ``(x - 127.5) / 127.5``."""
    return (np.asarray(image, dtype=np.float32) - 127.5) / 127.5


def tile_origins(shape: tuple[int, ...], size: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Patch origins tiling ``shape`` like the authors' code (``range(0, n - p + 1, s)`` per axis).

    The remainder at the far edge is not covered, which is how the paper's patch counts arise.
    """
    for n, p in zip(shape, size):
        if n < p:
            raise ValueError(f"region {tuple(shape)} is smaller than the patch {tuple(size)}")
    axes = [range(0, n - p + 1, s) for n, p, s in zip(shape, size, stride)]
    return [tuple(int(v) for v in o) for o in np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)]


_BUDGET = re.compile(r"^(?:p(?P<patches>[1-9]\d*)|f(?P<fraction>0?\.\d+|1(?:\.0*)?)|full)$")


def budget_size(budget: str, n_patches: int) -> int:
    """How many training patches a budget wildcard names.

    ``p100``: 100 patches (Table 2); ``f0.25``: a quarter of the patches (Fig. 2), at least
    one; ``full``: all of them (pretraining). Asking for more patches than exist is an error,
    since silently using fewer would mislabel the result.
    """
    m = _BUDGET.match(budget)
    if not m:
        raise ValueError(f"budget {budget!r} is not p<N>, f<fraction in (0,1]> or full")
    if m["patches"]:
        k = int(m["patches"])
        if k > n_patches:
            raise ValueError(f"budget {budget} asks for {k} patches but only {n_patches} exist")
        return k
    if m["fraction"]:
        frac = float(m["fraction"])
        if not 0 < frac <= 1:
            raise ValueError(f"budget {budget!r}: fraction must be in (0, 1]")
        return max(1, round(frac * n_patches))
    return n_patches


def subset_order(n_patches: int, seed: int) -> list[int]:
    """A fixed random order of the training patches; every budget takes a prefix of it,
    so the subsets are nested (10 % within 25 % within ... within 100 %)."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n_patches)]


def augment(patch: np.ndarray, label: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Random 90-degree rotation and flips in yx (same for image and label), then with
    probability ``p_intensity`` contrast x U[c0, c1) and brightness + U[b0, b1), clamped to [-1, 1]."""
    k = int(rng.integers(4))
    flips = [ax for ax, f in ((1, rng.random() < 0.5), (2, rng.random() < 0.5)) if f]
    patch, label = np.rot90(patch, k, axes=(1, 2)), np.rot90(label, k, axes=(1, 2))
    if flips:
        patch, label = np.flip(patch, flips), np.flip(label, flips)
    if rng.random() < cfg.p_intensity:
        patch = patch * rng.uniform(*cfg.contrast) + rng.uniform(*cfg.brightness)
        patch = np.clip(patch, -1.0, 1.0)
    return np.ascontiguousarray(patch, dtype=np.float32), np.ascontiguousarray(label)


class PatchBatches(torch.utils.data.Dataset):
    """Item ``step`` is the training batch of that optimisation step.

    Epoch ``e`` visits the patches in the order ``default_rng([seed, e]).permutation``;
    augmentation of step ``s`` uses ``default_rng([seed, s, 1])``. Nothing else is random.
    """

    def __init__(self, volume: Volume, origins: list[tuple[int, ...]], patch_size: tuple[int, ...], cfg: TrainConfig, seed: int) -> None:
        if not origins:
            raise ValueError("no training patches")
        self.volume, self.origins, self.size = volume, origins, tuple(patch_size)
        self.cfg, self.seed = cfg, seed
        self.steps_per_epoch = math.ceil(len(origins) / cfg.batch_size)
        total = cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, cfg.max_steps) if cfg.max_steps else total

    def __len__(self) -> int:
        return self.total_steps

    def batch_indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.origins))
        b = self.cfg.batch_size
        return order[pos * b : (pos + 1) * b]

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, 1])
        images, labels = [], []
        for i in self.batch_indices(step):
            window = tuple(slice(o, o + p) for o, p in zip(self.origins[i], self.size))
            img, lab = augment(normalise(self.volume.image[window]), self.volume.label[window], rng, self.cfg)
            images.append(img)
            labels.append(lab)
        x = torch.from_numpy(np.stack(images)[:, None])
        y = torch.from_numpy(np.stack(labels)[:, None].astype(np.float32))
        return x, y
