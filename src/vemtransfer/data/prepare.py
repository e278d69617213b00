"""Cut a task's train / validation / test volumes and patch index from its dataset, section by section.

Driven by the task spec alone (regions, label, preprocessing, validation carving), so every
task of every dataset goes through the same code. Following the authors' scripts, each
section is optionally cropped (top-left ``crop_yx``) and resized to ``resize_yx`` (area
interpolation when shrinking, cubic when enlarging), before or after OpenCV CLAHE (clip 3.5,
8 x 8 tiles) + 3 x 3 Gaussian blur (sigma 0.5). Labels are binarised (``!= 0``; SNEMI3D's
instance ids lose their boundary pixels first), resized with the same interpolation as 0/1
floats and thresholded at 0.5. Images are stored as uint8 and scaled to [-1, 1] when read.
The validation split is ours (the authors selected models on the test set): the far end of
the training region along one axis. Only one section is in memory at a time.

Sparsely annotated volumes (``labelled_sections``): the image keeps every section of the
region, so patches see their real 3-D context, while label sections nobody annotated are
written as :data:`~vemtransfer.data.splits.IGNORE` and never read from the dataset; training
patches must hold a labelled section. A task without a test region gets an empty test split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from vemtransfer.config import Region, TaskSpec
from vemtransfer.config.preprocess import BLUR_KERNEL, BLUR_SIGMA, CLAHE_CLIP, CLAHE_TILES, resolve_preprocess
from vemtransfer.core.layout import PATCH_INDEX
from vemtransfer.core.storage import npy_section_writer, write_json, write_npy
from vemtransfer.data.datasets.store import Sections
from vemtransfer.data.patches import cell_origins, subset_order, tile_origins
from vemtransfer.data.splits import IGNORE, split_paths

AXES = "zyx"
log = logging.getLogger(__name__)


def enhance(section: np.ndarray) -> np.ndarray:
    """CLAHE then Gaussian blur of one uint8 section (:data:`vemtransfer.config.preprocess.ENHANCE`)."""
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=CLAHE_TILES)
    return cv2.GaussianBlur(clahe.apply(np.ascontiguousarray(section, dtype=np.uint8)), BLUR_KERNEL, BLUR_SIGMA)


def resize(section: np.ndarray, shape_yx: tuple[int, int]) -> np.ndarray:
    """cv2.resize to (y, x): area interpolation when shrinking, cubic when enlarging."""
    if tuple(section.shape) == tuple(shape_yx):
        return section
    shrink = shape_yx[0] * shape_yx[1] < section.shape[0] * section.shape[1]
    return cv2.resize(section, (shape_yx[1], shape_yx[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def neurite_interior(ids: np.ndarray) -> np.ndarray:
    """Foreground = labelled voxels whose 3x3 neighbourhood holds one id (boundaries removed)."""
    ids = np.asarray(ids)
    same = ndimage.grey_erosion(ids, size=(3, 3)) == ndimage.grey_dilation(ids, size=(3, 3))
    return (ids != 0) & same


def crop(section: np.ndarray, pp: Mapping[str, Any]) -> np.ndarray:
    """The top-left ``crop_yx`` of a section (the whole section without one)."""
    return section[: pp["crop_yx"][0], : pp["crop_yx"][1]] if "crop_yx" in pp else section


def raw_image(section: np.ndarray, pp: Mapping[str, Any]) -> np.ndarray:
    """One raw image section, checked to be uint8 and cropped: the input of every image path."""
    if section.dtype != np.uint8:
        raise ValueError(f"raw sections must be uint8, got {section.dtype}")
    return crop(section, pp)


def preprocess_image(section: np.ndarray, pp: Mapping[str, Any]) -> np.ndarray:
    """Crop, resize and enhance one raw section in the order the task's spec says."""
    section = raw_image(section, pp)
    if pp.get("resize") == "after_clahe":
        return resize(enhance(section), tuple(pp["resize_yx"])) if "resize_yx" in pp else enhance(section)
    return enhance(resize(section, tuple(pp["resize_yx"])) if "resize_yx" in pp else section)


def preprocess_label(section: np.ndarray, pp: Mapping[str, Any]) -> np.ndarray:
    """Crop, binarise (with boundary removal for instance labels) and resize one label section to 0/1 uint8."""
    section = crop(section, pp)
    binary = neurite_interior(section) if pp.get("label_rule") == "neurite_interior" else np.asarray(section) != 0
    if "resize_yx" in pp:
        return (resize(binary.astype(np.float32), tuple(pp["resize_yx"])) >= 0.5).astype(np.uint8)
    return binary.astype(np.uint8)


def carve_validation(shape: tuple[int, ...], axis: str, fraction: float, patch_size: tuple[int, ...],
                     val_size: tuple[int, ...] | None = None) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Split a training region into (train, val) slices: the last ``fraction`` along ``axis``,
    at least one validation crop (``val_size``, default the patch) long, with at least one
    patch left for training."""
    a = AXES.index(axis)
    n, p = shape[a], patch_size[a]
    n_val = max((val_size or patch_size)[a], math.ceil(fraction * n))
    if n - n_val < p:
        raise ValueError(
            f"training region of {n} along {axis} cannot hold a validation split of {n_val} "
            f"and a patch of {p}; choose another validation axis or a smaller fraction"
        )
    train, val = [slice(None)] * 3, [slice(None)] * 3
    train[a], val[a] = slice(0, n - n_val), slice(n - n_val, n)
    return tuple(train), tuple(val)


def held_out_volumes(blocks: Sequence[int], fraction: float) -> tuple[list[int], list[int]]:
    """(train, val) blocks of a training region of several volumes validated along z: the last
    volumes, whole, holding at least ``fraction`` of its sections (at least one volume, and one
    left to train on). Whole volumes, not their last sections: a lab's separately labelled blocks
    (or isolated sections) are where the test's shift lies, so validation holds one out as the
    test does."""
    n_val, keep, held = math.ceil(fraction * sum(blocks)), len(blocks), 0
    while keep > 1 and held < n_val:
        keep -= 1
        held += blocks[keep]
    return list(blocks[:keep]), list(blocks[keep:])


@dataclass(frozen=True)
class _Split:
    """Which (volume, section) pairs form a split, and which rows/columns of each section."""

    items: list[tuple[str, int]]
    blocks: list[int]  # sections per volume, in order: patches never straddle two volumes
    yx: tuple[slice, slice]


def _plan(region: Region | None, sections: Sections) -> _Split:
    """The sections of ``region`` (none for an absent test region), volume by volume."""
    items, blocks = [], []
    if region is None:
        return _Split(items, blocks, (slice(None), slice(None)))
    for volume in region.volumes or sections.volumes():
        zs = list(range(*region.z)) if region.z else sections.indices(volume)
        items += [(volume, z) for z in zs]
        blocks.append(len(zs))
    return _Split(items, blocks, region.slices()[1:])


def _section_pair(sections: Sections, task: TaskSpec, volume: str, z: int, yx: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """One prepared image section and its label (all :data:`IGNORE` on a section nobody labelled)."""
    image = preprocess_image(sections.image(volume, z), task.preprocess)[yx]
    if task.labelled is not None and z not in task.labelled:
        return image, np.full(image.shape, IGNORE, np.uint8)
    label = preprocess_label(sections.label(task.label, volume, z), task.preprocess)[yx]
    if image.shape != label.shape:
        raise ValueError(f"task {task.id}: section {volume}/{z} image {image.shape} != label {label.shape}")
    return image, label


def _block_origins(blocks: list[int], yx_shape: tuple[int, int], patch_size: tuple[int, ...], stride: tuple[int, ...],
                   cells: bool = False) -> list[tuple[int, ...]]:
    """Patch origins of a stack of volumes, tiled volume by volume (z offsets added); with ``cells``,
    the origins of non-overlapping ``stride``-sized cells covering every volume that holds a patch's
    y/x (whatever its depth: training drops the cells of volumes thinner than its window,
    :func:`vemtransfer.planning.plan.window_cells`, so isolated sections can train with depth-1 windows)."""
    origins, z0 = [], 0
    for n in blocks:
        if (cells or n >= patch_size[0]) and all(s >= p for s, p in zip(yx_shape, patch_size[1:])):
            grid = cell_origins((n, *yx_shape), stride) if cells else tile_origins((n, *yx_shape), patch_size, stride)
            origins += [(z + z0, y, x) for z, y, x in grid]
        z0 += n
    return origins


def _routes(task: TaskSpec, n: int, hw: tuple[int, int], patch_size: tuple[int, ...], blocks: list[int],
            val_size: tuple[int, ...] | None) -> tuple[Callable[[int], dict[str, tuple[slice, slice] | None]], dict[str, list[int]]]:
    """How each training section is divided between train and val, and their blocks."""
    if task.val_axis == "z":
        full = (slice(None), slice(None))
        if len(blocks) == 1:
            tr, _ = carve_validation((n, *hw), "z", task.val_fraction, patch_size, val_size)
            cut = tr[0].stop
            train_blocks, val_blocks = [cut], [n - cut]
        else:
            train_blocks, val_blocks = held_out_volumes(blocks, task.val_fraction)
            cut = sum(train_blocks)
        return (lambda i: {"train": full if i < cut else None, "val": None if i < cut else full}), {"train": train_blocks, "val": val_blocks}
    tr, va = carve_validation((n, *hw), task.val_axis, task.val_fraction, patch_size, val_size)
    return (lambda i: {"train": tr[1:], "val": va[1:]}), {"train": blocks, "val": blocks}


def prepare_task(task: TaskSpec, sections: Sections, out_dir: str | Path, patch_size: tuple[int, int, int], stride: tuple[int, int, int], seed: int,
                 voxel_nm: Sequence[float] | None = None, fold: int | None = None, val_size: tuple[int, int, int] | None = None,
                 cells: bool = False) -> dict[str, Any]:
    """Write ``{train,val,test}.{image,label}.npy`` and ``patches.json`` into ``out_dir``.

    ``voxel_nm`` (the dataset's) is needed only when the task's preprocessing names a target
    pixel size (``voxel_yx_nm``) instead of a resize; ``fold`` (whose train/test ``task``
    already holds) is recorded in ``patches.json``; ``val_size``: the validation split is
    carved at least one such crop large (default: one patch). The label budgets are prefixes
    of a fixed random order of ``origins``: patch-sized tiles at ``stride`` (the paper's), or
    with ``cells`` non-overlapping ``stride``-sized cells (random-window sampling).
    """
    if task.label not in sections.labels():
        raise ValueError(f"task {task.id}: dataset has no {task.label!r} labels (has {list(sections.labels())})")
    train, test = _plan(task.train, sections), _plan(task.test, sections)
    if not train.items or (task.test is not None and not test.items):
        raise ValueError(f"task {task.id}: empty train or test region")
    unused = sorted((task.labelled or set()) - {z for _, z in train.items + test.items})
    if unused:  # a typo, or sections held out on purpose: say so either way
        log.warning("task %s: labelled sections %s lie in no train/test region and are not used", task.id, unused)
    first = sections.image(*train.items[0])  # its shapes, raw and prepared, size every split
    raw_shape = first.shape
    task = dataclasses.replace(task, preprocess=resolve_preprocess(task.preprocess, voxel_nm, raw_shape))
    hw = preprocess_image(first, task.preprocess)[train.yx].shape
    route, blocks = _routes(task, len(train.items), hw, patch_size, train.blocks, val_size)
    blocks["test"] = test.blocks
    counts = {"train": sum(blocks["train"]), "val": sum(blocks["val"]), "test": len(test.items)}
    summary: dict[str, Any] = {"task": task.id, "fold": fold, "dataset": task.dataset, "patch_size": list(patch_size), "stride": list(stride),
                               "raw_section_shape": list(raw_shape), "z_step": (task.train.z or (0, 0, 1))[2],
                               "preprocess": dict(task.preprocess), "has_test": task.test is not None,
                               "sparse": task.labelled is not None, "splits": {}}
    fg, labelled = _write_splits(task, sections, out_dir, train, test, route, counts, hw)
    for split in counts:
        shape = np.load(split_paths(out_dir, split)[0], mmap_mode="r").shape
        scored = sum(labelled[split]) * math.prod(shape[1:])
        summary["splits"][split] = {"shape": list(shape), "blocks": blocks[split], "labelled_sections": sum(labelled[split]),
                                    "foreground": fg[split] / scored if scored else None}
    summary |= _patch_index(task, summary, blocks, labelled["train"], patch_size, stride, seed, cells)
    write_json(Path(out_dir) / PATCH_INDEX, summary)
    return summary


def _write_splits(task: TaskSpec, sections: Sections, out_dir: str | Path, train: _Split, test: _Split,
                  route: Callable[[int], dict[str, Any]], counts: Mapping[str, int], hw: tuple[int, int]) -> tuple[dict[str, int], dict[str, list[bool]]]:
    """Write every split section by section; per split its foreground voxels and, per written section, whether it
    is labelled. Nothing is left behind when a split turns out unusable (the writers' block fails first)."""
    fg, labelled = dict.fromkeys(counts, 0), {split: [] for split in counts}  # labelled: per written section
    with contextlib.ExitStack() as stack:
        writers = {
            (split, kind): stack.enter_context(npy_section_writer(path, counts[split]))
            for split in counts if counts[split] for kind, path in zip(("image", "label"), split_paths(out_dir, split))
        }

        def put(split: str, image: np.ndarray, label: np.ndarray) -> None:
            writers[split, "image"](image)
            writers[split, "label"](label)
            fg[split] += int(np.count_nonzero(label == 1))
            labelled[split].append(bool(label.size and label.flat[0] != IGNORE))

        for i, (volume, z) in enumerate(train.items):
            image, label = _section_pair(sections, task, volume, z, train.yx)
            for split, yx in route(i).items():
                if yx is not None:
                    put(split, image[yx], label[yx])
        for volume, z in test.items:
            put("test", *_section_pair(sections, task, volume, z, test.yx))
        # checked inside the writers' block: on error nothing is written
        for split in counts:
            if counts[split] and not any(labelled[split]):
                raise ValueError(f"task {task.id}: no labelled section in the {split} split (labelled_sections: {sorted(task.labelled or ())})")
        if fg["train"] == 0:
            raise ValueError(f"task {task.id}: the {task.label!r} labels are empty in the training region")
    if not counts["test"]:  # no test region: an empty split keeps all prepared data alike
        for path in split_paths(out_dir, "test"):
            write_npy(path, np.zeros((0, *hw), np.uint8))
    return fg, labelled


def _patch_index(task: TaskSpec, summary: Mapping[str, Any], blocks: Mapping[str, Any], train_labelled: Sequence[bool],
                 patch_size: tuple[int, int, int], stride: tuple[int, int, int], seed: int, cells: bool) -> dict[str, Any]:
    """The training origins (tiles or cells holding a labelled section) and the fixed order label budgets take them in."""
    train_shape = tuple(summary["splits"]["train"]["shape"][1:])
    depth = stride[0] if cells else patch_size[0]
    origins = [o for o in _block_origins(blocks["train"], train_shape, patch_size, stride, cells) if any(train_labelled[o[0]:o[0] + depth])]
    if not origins:
        raise ValueError(f"task {task.id}: training region {summary['splits']['train']['shape']} holds no {patch_size} patch"
                         + (" with a labelled section" if task.labelled is not None else ""))
    test_patches = len(_block_origins(blocks["test"], tuple(summary["splits"]["test"]["shape"][1:]), patch_size, stride))
    return {"test_patches": test_patches, "budget_unit": "cell" if cells else "tile", "origins": [list(o) for o in origins],
            "subset_order": subset_order(len(origins), seed)}


def _scale_slice(s: slice, factor: float) -> slice:
    return slice(None if s.start is None else round(s.start * factor), None if s.stop is None else round(s.stop * factor))


def prepare_raw_split(task: TaskSpec, sections: Sections, split: str, out_dir: str | Path, voxel_nm: Sequence[float] | None = None) -> dict[str, Any]:
    """Write the task's ``train`` or ``test`` region at the raw resolution: ``{split}.{image,label}.npy``.

    The input of the Table 3 baselines, which the paper ran on the raw images: sections are
    cropped as the task says but neither resized nor enhanced, labels only binarised, and
    the region's y/x (given in prepared pixels) is scaled back to raw pixels. No validation
    split is carved: the baselines select no model.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    plan = _plan(task.train if split == "train" else task.test, sections)
    if not plan.items:
        raise ValueError(f"task {task.id}: empty {split} region")
    first = sections.image(*plan.items[0])  # sizes the region; written below without a second read
    pp = resolve_preprocess(task.preprocess, voxel_nm, first.shape)
    raw_pp = {k: pp[k] for k in ("crop_yx", "label_rule") if k in pp}
    crop_hw = crop(first, pp).shape
    prepared_hw = tuple(pp.get("resize_yx", crop_hw))
    yx = tuple(_scale_slice(s, c / p) for s, c, p in zip(plan.yx, crop_hw, prepared_hw))
    image_path, label_path = split_paths(out_dir, split)
    fg = 0
    with npy_section_writer(image_path, len(plan.items)) as put_image, npy_section_writer(label_path, len(plan.items)) as put_label:
        for i, (volume, z) in enumerate(plan.items):
            image = raw_image(first if i == 0 else sections.image(volume, z), raw_pp)
            label = preprocess_label(sections.label(task.label, volume, z), raw_pp)[yx]
            put_image(np.ascontiguousarray(image[yx]))
            put_label(label)
            fg += int(label.sum())
    shape = np.load(image_path, mmap_mode="r").shape
    return {"task": task.id, "split": split, "shape": list(shape), "raw_yx": [[s.start, s.stop] for s in yx],
            "foreground": fg / math.prod(shape), "sections": [list(item) for item in plan.items]}
