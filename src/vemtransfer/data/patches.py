"""Training patches: tiling, nested label budgets, augmentation and the samplers that batch them.

The prepared splits they cut from are :mod:`vemtransfer.data.splits`'. Every random choice (which patches form a batch, where a window lies,
how each is augmented) is a pure function of ``(seed, step)``: a job resumed from a
checkpoint at step ``k`` draws exactly the batches an uninterrupted job would have drawn,
and worker processes need no shared random state.

A label budget is a set of tiles (a prefix of the task's fixed random tile order). Two
samplers train on it: :class:`PatchBatches` takes the tiles themselves, epoch after epoch
(the paper); :class:`RandomPatches` places windows at random over them, a share centred on
labelled foreground, and hides the labels outside the budget's tiles from the loss, so the
budget still counts labelled voxels while the image around them is free context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vemtransfer.config import TrainConfig
from vemtransfer.core.boxes import chunk_boxes
from vemtransfer.data.splits import IGNORE, Volume, normalise


def tile_origins(shape: tuple[int, ...], size: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Patch origins tiling ``shape`` like the authors' code (``range(0, n - p + 1, s)`` per axis).

    The remainder at the far edge is not covered, which is how the paper's patch counts arise.
    """
    for n, p in zip(shape, size):
        if n < p:
            raise ValueError(f"region {tuple(shape)} is smaller than the patch {tuple(size)}")
    axes = [range(0, n - p + 1, s) for n, p, s in zip(shape, size, stride)]
    return [tuple(int(v) for v in o) for o in np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)]


def subset_order(n_patches: int, seed: int) -> list[int]:
    """A fixed random order of the training patches; every budget takes a prefix of it,
    so the subsets are nested (10 % within 25 % within ... within 100 %)."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n_patches)]


@dataclass(frozen=True)
class Augmentation:
    """One patch's augmentation: ``k`` quarter turns in yx, then flips of ``flips`` axes, then (when
    ``contrast`` is not None) ``x * contrast + brightness`` clamped to [-1, 1]."""

    k: int
    flips: tuple[int, ...]
    contrast: float | None = None
    brightness: float | None = None


def draw_augmentation(rng: np.random.Generator, cfg: TrainConfig) -> Augmentation:
    """The random choices of :func:`augment`, drawn in its order (so the host and device paths draw alike)."""
    k = int(rng.integers(4))
    flips = tuple(ax for ax, f in ((1, rng.random() < 0.5), (2, rng.random() < 0.5)) if f)
    if rng.random() < cfg.p_intensity:
        contrast = rng.uniform(*cfg.contrast)
        return Augmentation(k, flips, contrast, rng.uniform(*cfg.brightness))
    return Augmentation(k, flips)


def apply_augmentation(patch: np.ndarray, label: np.ndarray, aug: Augmentation) -> tuple[np.ndarray, np.ndarray]:
    patch, label = np.rot90(patch, aug.k, axes=(1, 2)), np.rot90(label, aug.k, axes=(1, 2))
    if aug.flips:
        patch, label = np.flip(patch, aug.flips), np.flip(label, aug.flips)
    if aug.contrast is not None:
        patch = patch * aug.contrast + aug.brightness
        patch = np.clip(patch, -1.0, 1.0)
    return np.ascontiguousarray(patch, dtype=np.float32), np.ascontiguousarray(label)


def augment(patch: np.ndarray, label: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Random 90-degree rotation and flips in yx (same for image and label), then with
    probability ``p_intensity`` contrast x U[c0, c1) and brightness + U[b0, b1), clamped to [-1, 1]."""
    return apply_augmentation(patch, label, draw_augmentation(rng, cfg))


def planned_steps(n_patches: int, cfg: TrainConfig) -> int:
    """Optimiser steps of a run on ``n_patches`` tiles: ``cfg.steps`` if set (the same at every
    budget), else ``epochs`` passes over the tiles, capped at ``max_steps``."""
    if cfg.steps:
        return cfg.steps
    total = cfg.epochs * math.ceil(n_patches / cfg.batch_size)
    return min(total, cfg.max_steps) if cfg.max_steps else total


@dataclass(frozen=True)
class PatchPlan:
    """One training patch: its origin, its augmentation and (random sampling) where its labels count."""

    origin: tuple[int, ...]
    aug: Augmentation
    mask: np.ndarray | None = None
    """True where the label is inside the budget; None: everywhere."""


def _stack(images: list[np.ndarray], labels: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack(images)[:, None])
    y = torch.from_numpy(np.stack(labels)[:, None].astype(np.float32))
    return x, y


class PatchBatches(torch.utils.data.Dataset):
    """Item ``step`` is the training batch of that optimisation step: the next tiles of the budget.

    Epoch ``e`` visits the patches in the order ``default_rng([seed, e]).permutation``;
    augmentation of step ``s`` uses ``default_rng([seed, s, 1])``. Nothing else is random.
    """

    def __init__(self, volume: Volume, origins: list[tuple[int, ...]], patch_size: tuple[int, ...], cfg: TrainConfig, seed: int) -> None:
        if not origins:
            raise ValueError("no training patches")
        self.volume, self.origins, self.size = volume, origins, tuple(patch_size)
        self.cfg, self.seed = cfg, seed
        self.steps_per_epoch = math.ceil(len(origins) / cfg.batch_size)
        self.total_steps = planned_steps(len(origins), cfg)

    def __len__(self) -> int:
        return self.total_steps

    def batch_indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.origins))
        b = self.cfg.batch_size
        return order[pos * b : (pos + 1) * b]

    def plan(self, step: int) -> list[PatchPlan]:
        """Where the patches of step ``step`` lie and how each is augmented (no voxel is read)."""
        rng = np.random.default_rng([self.seed, step, 1])
        return [PatchPlan(tuple(self.origins[i]), draw_augmentation(rng, self.cfg)) for i in self.batch_indices(step)]

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for p in self.plan(step):
            window = tuple(slice(o, o + n) for o, n in zip(p.origin, self.size))
            img, lab = apply_augmentation(normalise(self.volume.image[window]), self.volume.label[window], p.aug)
            images.append(img)
            labels.append(lab)
        return _stack(images, labels)


def cell_origins(shape: tuple[int, ...], cell: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Origins of the cells partitioning ``shape`` into boxes of ``cell`` (the far ones clipped): label-budget units
    that do not overlap, so a fraction of the cells is that fraction of the labelled voxels."""
    return [tuple(int(a) for a, _ in box) for box in chunk_boxes(shape, cell)]


class RandomPatches(torch.utils.data.Dataset):
    """Item ``step``: a batch of windows placed at random over the budget's cells.

    The budget is a set of cells (boxes of ``cell_size`` at ``origins``, clipped to their
    volume block; default: patch-sized tiles). Each window is centred on a voxel of a budget
    cell: with probability ``cfg.foreground_fraction`` a labelled foreground voxel (cells
    weighted by how much foreground they hold), otherwise a uniformly drawn voxel of the
    budget. The window is shifted to lie inside the volume block (``blocks``: sections per
    stacked volume) of its centre, so it never straddles two volumes. Labels outside the
    budget's cells become :data:`IGNORE`. Placement of step ``s`` uses
    ``default_rng([seed, s, 0])``, augmentation ``default_rng([seed, s, 1])``.
    """

    def __init__(self, volume: Volume, origins: list[tuple[int, ...]], patch_size: tuple[int, ...], cfg: TrainConfig, seed: int,
                 blocks: list[int] | None = None, cell_size: tuple[int, ...] | None = None) -> None:
        if not origins:
            raise ValueError("no training patches")
        self.volume, self.cfg, self.seed = volume, cfg, seed
        self.size = np.asarray(patch_size, dtype=np.int64)
        self.shape = np.asarray(volume.image.shape, dtype=np.int64)
        ends = np.cumsum(blocks or [int(self.shape[0])])
        self.block_edges = np.stack([ends - np.asarray(blocks or [int(self.shape[0])]), ends], 1)
        self.lo = np.asarray(origins, dtype=np.int64).reshape(-1, 3)
        limit = np.column_stack([self.block_edges[self._block(self.lo[:, 0]), 1], np.broadcast_to(self.shape[1:], (len(self.lo), 2))])
        self.hi = np.minimum(self.lo + np.asarray(cell_size or patch_size, dtype=np.int64), limit)
        voxels = np.prod(self.hi - self.lo, axis=1).astype(np.float64)
        self.weights = voxels / voxels.sum()
        fg = np.array([np.count_nonzero(self.volume.label[self._box(a, b)] == 1) for a, b in zip(self.lo, self.hi)], dtype=np.float64)
        self.fg_cells = np.flatnonzero(fg)
        self.fg_weights = fg[self.fg_cells] / fg.sum() if fg.sum() else None
        self.total_steps = planned_steps(len(origins), cfg)

    def __len__(self) -> int:
        return self.total_steps

    def _block(self, z: np.ndarray | int) -> np.ndarray:
        """Index of the volume block holding section(s) ``z``."""
        return np.searchsorted(self.block_edges[:, 1], z, side="right")

    @staticmethod
    def _box(lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...]:
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))

    def centre(self, rng: np.random.Generator) -> np.ndarray:
        """A voxel to centre a window on: labelled foreground of a budget cell, or any voxel of the budget."""
        if self.fg_weights is not None and rng.random() < self.cfg.foreground_fraction:
            k = self.fg_cells[rng.choice(len(self.fg_cells), p=self.fg_weights)]
            voxels = np.argwhere(np.asarray(self.volume.label[self._box(self.lo[k], self.hi[k])]) == 1)
            return self.lo[k] + voxels[rng.integers(len(voxels))]
        k = rng.choice(len(self.lo), p=self.weights)
        return self.lo[k] + rng.integers(self.hi[k] - self.lo[k])

    def window(self, centre: np.ndarray) -> np.ndarray:
        """Origin of the window around ``centre``, inside the volume block that holds it."""
        lo, hi = self.block_edges[self._block(centre[0])]
        low = np.array([lo, 0, 0])
        high = np.array([hi, *self.shape[1:]]) - self.size
        return np.clip(centre - self.size // 2, low, high)

    def budget_mask(self, origin: np.ndarray) -> np.ndarray:
        """True where the window at ``origin`` lies inside one of the budget's cells."""
        lo = np.maximum(self.lo, origin)
        hi = np.minimum(self.hi, origin + self.size)
        hit = (hi > lo).all(1)
        mask = np.zeros(tuple(self.size), dtype=bool)
        for a, b in zip(lo[hit] - origin, hi[hit] - origin):
            mask[a[0]:b[0], a[1]:b[1], a[2]:b[2]] = True
        return mask

    def plan(self, step: int) -> list[PatchPlan]:
        """Where the patches of step ``step`` lie, their budget masks and augmentations."""
        place, rng = np.random.default_rng([self.seed, step, 0]), np.random.default_rng([self.seed, step, 1])
        out = []
        for _ in range(self.cfg.batch_size):
            origin = self.window(self.centre(place))
            out.append(PatchPlan(tuple(int(v) for v in origin), draw_augmentation(rng, self.cfg), self.budget_mask(origin)))
        return out

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for p in self.plan(step):
            box = tuple(slice(o, o + n) for o, n in zip(p.origin, self.size))
            label = np.where(p.mask, self.volume.label[box], IGNORE).astype(np.uint8)
            img, lab = apply_augmentation(normalise(self.volume.image[box]), label, p.aug)
            images.append(img)
            labels.append(lab)
        return _stack(images, labels)


def training_batches(volume: Volume, origins: list[tuple[int, ...]], patch_size: tuple[int, ...], cfg: TrainConfig, seed: int,
                     blocks: list[int] | None = None, cell_size: tuple[int, ...] | None = None) -> PatchBatches | RandomPatches:
    """The sampler ``cfg.sampling`` names, over the budget's tiles (or cells of ``cell_size``) at ``origins``."""
    if cfg.sampling == "random":
        return RandomPatches(volume, origins, patch_size, cfg, seed, blocks, cell_size)
    return PatchBatches(volume, origins, patch_size, cfg, seed)


def validation_crops(blocks: list[int], yx_shape: tuple[int, int], size: tuple[int, int, int], n: int, seed: int) -> list[tuple[int, int, int]]:
    """``n`` seeded crop origins of ``size`` in a validation split of stacked volumes (``blocks``: sections per volume).

    A crop lies inside one volume; volumes are drawn in proportion to their sections. The
    seed depends on the prepared data only, so every model of a task is scored on the same crops.
    """
    fits = [(z0, b) for z0, b in zip(np.cumsum([0, *blocks[:-1]]), blocks) if b >= size[0]]
    if not fits or yx_shape[0] < size[1] or yx_shape[1] < size[2]:
        raise ValueError(f"validation split {sum(blocks)}x{yx_shape[0]}x{yx_shape[1]} (blocks {blocks}) holds no {tuple(size)} "
                         "validation crop; choose a smaller train.validation.size or a larger validation fraction")
    rng = np.random.default_rng(seed)
    starts = np.array([z0 for z0, _ in fits])
    spans = np.array([b - size[0] + 1 for _, b in fits])
    out = []
    for _ in range(n):
        k = rng.choice(len(fits), p=spans / spans.sum())
        out.append((int(starts[k] + rng.integers(spans[k])), int(rng.integers(yx_shape[0] - size[1] + 1)), int(rng.integers(yx_shape[1] - size[2] + 1))))
    return out
