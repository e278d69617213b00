"""Whole-volume prediction with the windows cut, normalised, blended and accumulated on the device.

Why: on a GPU the host-side path (``volume.block_partial``: float32 windows up, probabilities
down, numpy blending) caps prediction at a third of what the network can do; here only uint8
input goes up and one float16 probability (plus the uint8 mask) per output region comes down.

``stream_to_zarr`` walks the volume in yx *columns* (cores of ``block`` y/x, whole output
chunks) and, inside a column, down z one row of windows at a time. The blended sums live in a
device accumulator ``(emit z + patch z) x column halo``: when a row of windows is done, every
section above the next row's start is final, and each finished run of output chunk rows is
divided by the summed blend weights, thresholded, copied to the host and written to the
OME-Zarr by a writer thread while the device goes on. A reader thread fetches the next row's
input (each section read once per column). So along z nothing is recomputed and memory is flat
in z; neighbouring columns recompute the windows that straddle them (a few per cent at 1024^2
cores; none when one column covers the plane). The windows are those of ``tiling.WindowGrid``,
the arithmetic that of ``infer.predict_volume``: the same blend, so the same masks as the host
path (probabilities within float16 rounding, or float32 with ``out_dtype="float32"``).

``block_sums`` is the same accumulation for one block of ``volume.predict_blocks`` (the
multi-job path): the block's partial sum built on the device, one copy down.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vemtransfer.config.preprocess import INTENSITY_CENTRE
from vemtransfer.core.boxes import chunk_boxes
from vemtransfer.core.storage import fresh_dir, replace_dir
from vemtransfer.inference.predict import blend_weight, memory_format, precision_autocast
from vemtransfer.inference.tiling import BlockPlan, WindowGrid, read_padded


class DeviceRunner:
    """A PyTorch model that takes uint8 windows already on its device (``forward``).

    Also a plain :class:`~vemtransfer.inference.runners.Runner` (float32 host batches in, probabilities
    out), so validation and the host paths can use it. ``precision``: fp16 / bf16 autocast or
    fp32; ``channels_last``: channels_last_3d model and inputs.
    """

    on_device = True

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cuda", precision: str = "fp16",
                 channels_last: bool = True, out_dtype: str = "float16") -> None:
        self.device = torch.device(device)
        self.format = memory_format(channels_last)
        self.precision = precision if self.device.type == "cuda" else "fp32"
        self.model = model.to(self.device, memory_format=self.format).eval()
        self.out_dtype = out_dtype
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one window shape: pick the fastest kernels once
        self.description = (f"torch {self.device.type} {self.precision}{' channels_last' if channels_last else ''}, "
                            f"windows blended on the device")

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """uint8 (n, z, y, x) on the device -> float32 foreground probability, same shape."""
        x = ((windows.float() - INTENSITY_CENTRE) / INTENSITY_CENTRE)[:, None].contiguous(memory_format=self.format)
        with torch.inference_mode(), precision_autocast(self.device, self.precision):
            return torch.sigmoid(self.model(x).float())[:, 0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = upload(np.ascontiguousarray(batch, dtype=np.float32), self.device).contiguous(memory_format=self.format)
        with torch.inference_mode(), precision_autocast(self.device, self.precision):
            return torch.sigmoid(self.model(x).float())[:, 0].cpu().numpy()


def upload(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` on ``device``: through pinned memory without blocking on CUDA (the copy overlaps queued kernels)."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def accumulate(runner: DeviceRunner, src: torch.Tensor, src_origin: Sequence[int], windows: Sequence[Sequence[int]],
               patch: Sequence[int], weight: torch.Tensor, acc: torch.Tensor, norm: torch.Tensor | None,
               acc_origin: Sequence[int], batch_size: int) -> int:
    """Add ``prob * weight`` of each window (starts in volume coordinates, cut from ``src``, uint8 on the
    device, whose first voxel is at ``src_origin``) into ``acc`` (first voxel at ``acc_origin``), the part
    of each window inside ``acc``; ``weight`` into ``norm`` alike. Returns the windows run."""
    shape = acc.shape
    with torch.inference_mode():  # a no-op inside the callers' inference mode
        for i in range(0, len(windows), batch_size):
            batch = windows[i : i + batch_size]
            tiles = torch.stack([src[tuple(slice(s - o, s - o + p) for s, o, p in zip(w, src_origin, patch))] for w in batch])
            prob = runner.forward(tiles)
            for w, p in zip(batch, prob):
                lo = [max(s - o, 0) for s, o in zip(w, acc_origin)]
                hi = [min(s - o + n, m) for s, o, n, m in zip(w, acc_origin, patch, shape)]
                if any(a >= b for a, b in zip(lo, hi)):
                    continue
                dst = tuple(slice(a, b) for a, b in zip(lo, hi))
                part = tuple(slice(a + o - s, b + o - s) for a, b, s, o in zip(lo, hi, w, acc_origin))
                acc[dst] += p[part] * weight[part]
                if norm is not None:
                    norm[dst] += weight[part]
    return len(windows)


def block_sums(runner: DeviceRunner, halo: np.ndarray, plan: BlockPlan, block: int, batch_size: int) -> np.ndarray:
    """``volume.block_partial`` on the device: the blend-weighted sum (float32) over ``block``'s footprint."""
    grid, dev = plan.grid, runner.device
    foot = plan.footprint(block)
    windows = grid.windows(plan.window_indices(block))
    with torch.inference_mode():
        acc = torch.zeros([b - a for a, b in foot], dtype=torch.float32, device=dev)
        weight = torch.from_numpy(blend_weight(grid.patch)).to(dev)
        accumulate(runner, upload(halo, dev), windows[0], windows, grid.patch, weight, acc, None, [a for a, _ in foot], batch_size)
        return acc.cpu().numpy()


class _RowReader:
    """The uint8 input of one row of windows of a column, read section by section, each once."""

    def __init__(self, image: Any, halo_yx: tuple[tuple[int, int], tuple[int, int]], pz: int) -> None:
        self.image, self.halo, self.pz = image, halo_yx, pz
        self.lo, self.cache = 0, None

    def read(self, z: int) -> np.ndarray:

        (y0, y1), (x0, x1) = self.halo
        n = int(self.image.shape[0])
        if z + self.pz > n:  # z shorter than a window: one row over the mirror-padded volume
            return read_padded(self.image, (z, y0, x0), (z + self.pz, y1, x1))
        keep = 0 if self.cache is None else max(0, self.lo + len(self.cache) - z)
        new = read_padded(self.image, (z + keep, y0, x0), (z + self.pz, y1, x1))
        rows = new if not keep else np.concatenate([self.cache[len(self.cache) - keep :], new])
        self.lo, self.cache = z, rows
        return rows


class _Writer:
    """Writes finished regions (prob, mask) into the level-0 arrays in order, in one thread, at most two queued."""

    def __init__(self, prob_arr: Any, mask_arr: Any) -> None:
        self.prob_arr, self.mask_arr = prob_arr, mask_arr
        self.pool = concurrent.futures.ThreadPoolExecutor(1)
        self.pending: list[concurrent.futures.Future] = []

    def submit(self, region: tuple[slice, ...], prob: torch.Tensor, mask: torch.Tensor, done: torch.cuda.Event | None) -> None:
        while len(self.pending) >= 2:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self._write, region, prob, mask, done))

    def _write(self, region: tuple[slice, ...], prob: torch.Tensor, mask: torch.Tensor, done: torch.cuda.Event | None) -> None:
        if done is not None:
            done.synchronize()
        self.prob_arr[region] = prob.numpy().astype(np.float32, copy=False)
        self.mask_arr[region] = mask.numpy()

    def close(self) -> None:
        for f in self.pending:
            f.result()
        self.pool.shutdown()


def _down(t: torch.Tensor, dtype: str) -> tuple[torch.Tensor, torch.cuda.Event | None]:
    """``t`` copied to (pinned) host memory without blocking; the event marks the copy's end."""
    t = t.to(torch.float16 if dtype == "float16" and t.is_floating_point() else t.dtype)
    if t.device.type != "cuda":
        return t.clone(), None
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


def _column_windows(grid: WindowGrid, core: tuple[tuple[int, int], ...]) -> tuple[list[int], list[int]]:
    (y0, y1), (x0, x1) = core
    ys = [s for s in grid.starts[1] if s < y1 and s + grid.patch[1] > y0]
    xs = [s for s in grid.starts[2] if s < x1 and s + grid.patch[2] > x0]
    return ys, xs


def _predict_column(runner: DeviceRunner, image: Any, grid: WindowGrid, core: tuple[tuple[int, int], ...], emit_z: int,
                    batch_size: int, threshold: float, writer: _Writer, weight: torch.Tensor) -> int:
    """Every row of windows of one yx column; finished chunk rows go to ``writer``. Returns the windows run."""
    dev, (pz, py, px), nz = runner.device, grid.patch, grid.shape[0]
    ys, xs = _column_windows(grid, core)
    halo = ((ys[0], ys[-1] + py), (xs[0], xs[-1] + px))
    depth = emit_z + pz
    acc = torch.zeros((depth, halo[0][1] - halo[0][0], halo[1][1] - halo[1][0]), dtype=torch.float32, device=dev)
    norm = torch.zeros_like(acc)
    zstarts, base, emitted, run = grid.starts[0], 0, 0, 0
    core_yx = tuple(slice(a - h0, b - h0) for (a, b), (h0, _) in zip(core, halo))
    reader = _RowReader(image, halo, pz)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(reader.read, zstarts[0])
        for i, z in enumerate(zstarts):
            rows = pending.result()
            if i + 1 < len(zstarts):
                pending = pool.submit(reader.read, zstarts[i + 1])
            if z + pz - base > depth:  # drop the emitted sections off the top of the accumulator
                k = emitted - base
                acc = torch.cat([acc[k:], torch.zeros_like(acc[:k])])
                norm = torch.cat([norm[k:], torch.zeros_like(norm[:k])])
                base = emitted
            windows = [(z, y, x) for y in ys for x in xs]
            run += accumulate(runner, upload(rows, dev), (z, halo[0][0], halo[1][0]), windows, grid.patch, weight, acc, norm,
                              (base, halo[0][0], halo[1][0]), batch_size)
            final = min(zstarts[i + 1], nz) if i + 1 < len(zstarts) else nz
            end = nz if final == nz else emitted + (final - emitted) // emit_z * emit_z
            if end > emitted:
                rows_ = slice(emitted - base, end - base)
                prob = acc[(rows_, *core_yx)] / norm[(rows_, *core_yx)]
                prob_h, _ = _down(prob, runner.out_dtype)
                mask_h, done = _down((prob > threshold).to(torch.uint8), runner.out_dtype)
                region = (slice(emitted, end), *(slice(a, b) for a, b in core))
                writer.submit(region, prob_h, mask_h, done)
                emitted = end
    return run


def stream_to_zarr(runner: DeviceRunner, image: Any, out_path: str | Path, patch_size: Sequence[int], chunk_zyx: Sequence[int],
                   overlap: float = 0.5, batch_size: int = 16, threshold: float = 0.5, block_zyx: Sequence[int] | None = None,
                   voxel_nm: Sequence[float] = (1.0, 1.0, 1.0), attrs: dict[str, Any] | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Predict a uint8 (z, y, x) volume into OME-Zarr at ``out_path`` with ``runner`` (module docstring).

    ``block_zyx`` (default the chunk): y/x bound a column's core (rounded up to whole chunks), z
    the sections emitted at once (rounded to whole chunk rows). Same layout and summary keys as
    ``volume.predict_to_zarr``; ``windows_run`` exceeds ``windows`` by the recomputed column seams."""
    from vemtransfer.inference.ome import build_pyramid, create_prediction

    grid = WindowGrid.of(image.shape, patch_size, overlap)
    shape = grid.shape
    chunk = tuple(min(int(c), n) for c, n in zip(chunk_zyx, shape))
    block = block_zyx or chunk
    emit_z = chunk[0] * max(1, -(-int(block[0]) // chunk[0]))
    tile = tuple(c * max(1, -(-int(b) // c)) for b, c in zip(block[1:], chunk[1:]))
    columns = chunk_boxes(shape[1:], tile)
    weight = torch.from_numpy(blend_weight(grid.patch)).to(runner.device)
    import zarr

    out = Path(out_path)
    t0 = time.perf_counter()
    tmp = fresh_dir(out)
    run = 0
    # Chunks are written whole, as they come: zarr's check of each one for the fill value (an
    # element-wise comparison per chunk, holding the interpreter) cost a third of the stream on an H200.
    no_empty_check = zarr.config.set({"array.write_empty_chunks": True})
    try:
        info = {"patch_size": list(grid.patch), "overlap": grid.overlap, "threshold": threshold,
                "columns": len(columns), "device_blend": True, **(attrs or {})}
        root = create_prediction(tmp, shape, chunk, voxel_nm, info)
        writer = _Writer(root["0"], root["labels/mask/0"])
        try:
            with torch.inference_mode():
                for core in tqdm(columns, desc=f"predict {out.name}", unit="column", file=sys.stderr, disable=not progress):
                    run += _predict_column(runner, image, grid, core, emit_z, batch_size, threshold, writer, weight)
        finally:
            writer.close()
        build_pyramid(root, slab=16)
        replace_dir(tmp, out)
    finally:
        no_empty_check.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"path": str(out), "shape": list(shape), "chunk": list(chunk), "chunks": len(chunk_boxes(shape, chunk)),
            "blocks": len(columns), "windows": grid.count, "windows_run": run, "runner": runner.description,
            "seconds": round(time.perf_counter() - t0, 3)}
