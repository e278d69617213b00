"""Whole-volume prediction of any size: every window once, in blocks, into OME-Zarr.

Fig. 5 segments a 219 x 2000 x 2000 volume and labs bring 10^10-10^12 voxels, so
``infer.predict_volume`` (the volume and two float32 accumulators in RAM) does not scale.
Here the sliding windows are fixed once on the whole volume (``tiling.WindowGrid``, the
grid ``predict_volume`` uses) and grouped into blocks (``tiling.BlockPlan``):

1. ``predict_blocks`` runs each window of its blocks exactly once and stores, per block, the
   blend-weighted sum of its windows over the block's footprint (a ``.npy`` partial). Blocks
   are independent, so N jobs (N GPUs, a SLURM array) can each take a share.
2. ``assemble_prediction`` walks the output chunk by chunk: the sum of the partials of the
   blocks touching the chunk (in block order), divided by the sum of the blend weights of
   the windows touching it, is exactly the blend ``predict_volume`` computes (to float
   rounding: the additions are grouped by block). It writes OME-Zarr (``ome.py``) and the
   pyramid.

The arithmetic depends only on the volume, patch, overlap and block shape, never on the
number of jobs or the output chunk, so a blockwise run equals a single-job run bit for bit.
Memory is bounded by one block's footprint (input + float32 partial) and a few output
chunks; the partials take ~1.2-2x the volume in float32 on disk until assembled.

Every directory is built under a temporary name and renamed into place when complete, so
an interrupted job never leaves something that looks finished.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vemtransfer.core.boxes import Box, box_slices, chunk_boxes, intersect
from vemtransfer.core.storage import fresh_dir, replace_dir, write_json
from vemtransfer.data.splits import normalise
from vemtransfer.inference.predict import blend_weight
from vemtransfer.inference.runners import Runner
from vemtransfer.inference.tiling import BlockPlan, WindowGrid, read_padded

PLAN_FILE = "plan.json"


def plan_for(shape: Sequence[int], patch: Sequence[int], overlap: float, block_zyx: Sequence[int]) -> BlockPlan:
    """The block plan of a volume; the same inputs give the same plan in every job."""
    return BlockPlan.of(WindowGrid.of(shape, patch, overlap), block_zyx)


def _plan_record(plan: BlockPlan) -> dict[str, Any]:
    g = plan.grid
    return {"shape": list(g.shape), "patch": list(g.patch), "overlap": g.overlap, "per_block": list(plan.per_block),
            "blocks": plan.count, "windows": g.count}


def _block_input(image: Any, plan: BlockPlan, block: int) -> np.ndarray:
    windows = plan.grid.windows(plan.window_indices(block))
    lo = windows[0]
    hi = [max(w[a] for w in windows) + p for a, p in enumerate(plan.grid.patch)]
    return read_padded(image, lo, hi)


def block_partial(runner: Runner, halo: np.ndarray, plan: BlockPlan, block: int, batch_size: int) -> np.ndarray:
    """Blend-weighted sum (float32) over ``block``'s footprint of its windows' probabilities.

    ``halo`` is the block's input (``_block_input``); windows run ``batch_size`` at a time.
    A device runner (``device_predict.DeviceRunner``) blends on its device instead."""
    if getattr(runner, "on_device", False):
        from vemtransfer.inference.device_predict import block_sums

        return block_sums(runner, halo, plan, block, batch_size)
    grid, weight = plan.grid, blend_weight(plan.grid.patch)
    foot = plan.footprint(block)
    origin = [a for a, _ in foot]
    windows = grid.windows(plan.window_indices(block))
    acc = np.zeros([b - a for a, b in foot], np.float32)
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size]
        tiles = [halo[tuple(slice(s - o, s - o + p) for s, o, p in zip(w, origin, grid.patch))] for w in batch]
        prob = runner(np.stack([normalise(t) for t in tiles])[:, None])
        for w, p in zip(batch, prob):
            inter = intersect(tuple((s, s + n) for s, n in zip(w, grid.patch)), foot)
            src = box_slices(inter, w)
            acc[box_slices(inter, origin)] += p[src] * weight[src]
    return acc


def predict_blocks(runner: Runner, image: Any, plan: BlockPlan, blocks: Iterable[int], out_dir: str | Path,
                   batch_size: int = 4, progress: bool = True) -> dict[str, Any]:
    """Run ``blocks`` of ``plan`` over ``image`` and store their partials in ``out_dir``.

    ``image`` is anything with ``.shape`` and numpy slicing (memmap, zarr array,
    ``export.PreprocessedVolume``), read one block at a time; the next block's input is
    read in a thread while the current one runs. ``out_dir`` holds ``block<b>.npy`` per
    block and ``plan.json``; it appears only when complete."""
    if tuple(int(n) for n in image.shape) != plan.grid.shape:
        raise ValueError(f"image is {tuple(image.shape)} but the plan is for {plan.grid.shape}")
    out = Path(out_dir)
    tmp = fresh_dir(out)
    blocks = list(blocks)
    t0 = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as reader:
            pending = reader.submit(_block_input, image, plan, blocks[0]) if blocks else None
            for i, block in enumerate(tqdm(blocks, desc=f"predict {out.name}", unit="block", file=sys.stderr, disable=not progress)):
                halo = pending.result()
                pending = reader.submit(_block_input, image, plan, blocks[i + 1]) if i + 1 < len(blocks) else None
                np.save(tmp / f"block{block}.npy", block_partial(runner, halo, plan, block, batch_size))
        windows = sum(int(np.prod([b - a for a, b in plan.window_indices(b)])) for b in blocks)
        summary = {**_plan_record(plan), "job_blocks": blocks, "windows_run": windows, "runner": runner.description,
                   "seconds": round(time.perf_counter() - t0, 3)}
        write_json(tmp / PLAN_FILE, summary)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _partials(plan: BlockPlan, part_dirs: Sequence[str | Path]) -> dict[int, Path]:
    """Each block's partial file, checking the jobs' plans agree and cover every block once."""
    files: dict[int, Path] = {}
    expected = _plan_record(plan)
    for d in map(Path, part_dirs):
        record = json.loads((d / PLAN_FILE).read_text())
        if {k: record[k] for k in expected} != expected:
            raise ValueError(f"{d} was predicted with another plan: {({k: record[k] for k in expected})} != {expected}")
        for b in record["job_blocks"]:
            if b in files:
                raise ValueError(f"block {b} is in both {files[b].parent} and {d}")
            files[b] = d / f"block{b}.npy"
    missing = sorted(set(range(plan.count)) - set(files))
    if missing:
        raise ValueError(f"blocks {missing[:10]}{' ...' if len(missing) > 10 else ''} of {plan.count} have no partial in {list(map(str, part_dirs))}")
    return files


class Partials:
    """Read access to the blocks' partial sums, one region at a time.

    Each read maps the ``.npy`` file, copies the region and unmaps it: a mapping kept open
    would count every page read so far in the process's resident memory, which then grows
    with the volume (4 MB per Mvoxel, measured) instead of staying at a few chunks."""

    def __init__(self, plan: BlockPlan, files: dict[int, Path]) -> None:
        self.files = files
        for b, f in files.items():
            expected = tuple(hi - lo for lo, hi in plan.footprint(b))
            shape = np.load(f, mmap_mode="r").shape
            if shape != expected:
                raise ValueError(f"{f} is {shape}, not block {b}'s footprint {expected}: a truncated or foreign partial")

    def __getitem__(self, key: tuple[int, tuple[slice, ...]]) -> np.ndarray:
        block, region = key
        mapped = np.load(self.files[block], mmap_mode="r")
        try:
            return np.array(mapped[region])
        finally:
            del mapped


def blend_chunk(plan: BlockPlan, partials: Partials, box: Box) -> np.ndarray:
    """Probability over ``box``: the blocks' partial sums over it / the windows' weight sums."""
    grid, weight = plan.grid, blend_weight(plan.grid.patch)
    shape = [b - a for a, b in box]
    origin = [a for a, _ in box]
    acc = np.zeros(shape, np.float32)
    for b in plan.blocks_touching(box):
        foot = plan.footprint(b)
        inter = intersect(foot, box)
        region = box_slices(inter, [a for a, _ in foot])
        acc[box_slices(inter, origin)] += partials[b, region]
    norm = np.zeros(shape, np.float32)
    for w in grid.windows_touching(box):
        inter = intersect(tuple((s, s + n) for s, n in zip(w, grid.patch)), box)
        norm[box_slices(inter, origin)] += weight[box_slices(inter, w)]
    return acc / norm


def assemble_prediction(plan: BlockPlan, part_dirs: Sequence[str | Path], out_path: str | Path, chunk_zyx: Sequence[int],
                        voxel_nm: Sequence[float], threshold: float = 0.5, attrs: dict[str, Any] | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """Blend the partials of ``part_dirs`` into an OME-Zarr prediction at ``out_path``.

    The probability is float32; the mask is ``prob > threshold`` (as ``evaluate`` thresholds)."""
    from vemtransfer.inference.ome import build_pyramid, create_prediction

    partials = Partials(plan, _partials(plan, part_dirs))
    out = Path(out_path)
    t0 = time.perf_counter()
    tmp = fresh_dir(out)
    try:
        info = {"patch_size": list(plan.grid.patch), "overlap": plan.grid.overlap, "threshold": threshold,
                "block_windows": list(plan.per_block), **(attrs or {})}
        root = create_prediction(tmp, plan.grid.shape, chunk_zyx, voxel_nm, info)
        prob_arr, mask_arr = root["0"], root["labels/mask/0"]
        boxes = chunk_boxes(plan.grid.shape, prob_arr.chunks)
        for box in tqdm(boxes, desc=f"assemble {out.name}", unit="chunk", file=sys.stderr, disable=not progress):
            prob = blend_chunk(plan, partials, box)
            region = box_slices(box)
            prob_arr[region] = prob
            mask_arr[region] = (prob > threshold).astype(np.uint8)
        build_pyramid(root)
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(out), "shape": list(plan.grid.shape), "chunk": list(prob_arr.chunks), "chunks": len(boxes),
            "seconds": round(time.perf_counter() - t0, 3)}


def predict_to_zarr(runner: Runner, image: Any, out_path: str | Path, patch_size: Sequence[int], chunk_zyx: Sequence[int],
                    overlap: float = 0.5, batch_size: int = 4, threshold: float = 0.5, block_zyx: Sequence[int] | None = None,
                    voxel_nm: Sequence[float] = (1.0, 1.0, 1.0), attrs: dict[str, Any] | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Predict a uint8 (z, y, x) volume of any size into OME-Zarr at ``out_path``, in one process.

    The same blocks and arithmetic as a blockwise run (``predict_blocks`` + ``assemble_prediction``),
    with the partials kept beside ``out_path`` until assembled. ``block_zyx`` defaults to the
    output chunk. Returns a summary (``windows_run`` equals ``windows``: each window runs once).
    A device runner streams the volume through its device instead (``device_predict.stream_to_zarr``)."""
    if getattr(runner, "on_device", False):
        from vemtransfer.inference.device_predict import stream_to_zarr

        return stream_to_zarr(runner, image, out_path, patch_size, chunk_zyx, overlap, batch_size, threshold, block_zyx,
                              voxel_nm, attrs, progress)
    plan = plan_for(image.shape, patch_size, overlap, block_zyx or chunk_zyx)
    out = Path(out_path)
    parts = out.with_name(f"{out.name}.parts")
    t0 = time.perf_counter()
    try:
        predicted = predict_blocks(runner, image, plan, plan.blocks(), parts, batch_size, progress)
        assembled = assemble_prediction(plan, [parts], out, chunk_zyx, voxel_nm, threshold, attrs, progress)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return {**assembled, "blocks": plan.count, "windows": plan.grid.count, "windows_run": predicted["windows_run"],
            "runner": runner.description, "seconds": round(time.perf_counter() - t0, 3)}
