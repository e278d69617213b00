"""Whole-volume inference into Zarr, chunk by chunk, and surface meshes of the result.

Fig. 5 segments the whole rat-liver volume (219 sections at 2000 x 2000): its float32
probability and blending buffers alone would need ~7 GB each, so ``infer.predict_volume``
(which holds the padded volume and two accumulators in RAM) does not scale to it or to
users' own volumes. ``predict_to_zarr`` walks the output in chunks instead and keeps only
one chunk (plus the input halo its windows need) in memory.

Chunking must not change the answer. We use the *global* window grid that
``predict_volume`` would use on the whole volume (same starts, patch, overlap and Gaussian
blend weight); for each output chunk we run exactly the windows that intersect it, read
their joint bounding box from the input as the halo, and blend their outputs over the
chunk's voxels. Every voxel therefore receives the same weighted contributions as in the
unchunked run, so the result matches it to float tolerance. The price is that windows
straddling a chunk border are run once per chunk they touch (``summary["windows_run"]``
versus ``summary["windows"]``); chunks several patches wide keep that overhead small.

The Zarr store is built in ``<out>.tmp-<random>`` and renamed onto ``<out>`` only when
complete, so an interrupted run never leaves a directory that looks finished.

``skimage`` and ``zarr`` are imported inside the functions that need them, so the rest
of the package imports without these optional dependencies.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vemtransfer.data import normalise
from vemtransfer.infer import autocast, blend_weight, window_starts
from vemtransfer.storage import atomic_path

Box = tuple[tuple[int, int], ...]  # per axis (start, stop)


def _chunk_boxes(shape: Sequence[int], chunk: Sequence[int]) -> list[Box]:
    """Output chunks tiling ``shape`` in C order (the last ones clipped to the volume)."""
    axes = [[(s, min(s + c, n)) for s in range(0, n, c)] for n, c in zip(shape, chunk)]
    return list(itertools.product(*axes))


def _windows_for(box: Box, starts: Sequence[Sequence[int]], patch: Sequence[int]) -> list[tuple[int, ...]]:
    """Starts of the global windows that overlap ``box``, in ``predict_volume``'s order."""
    hit = [[s for s in ax if s < hi and s + p > lo] for ax, (lo, hi), p in zip(starts, box, patch)]
    return list(itertools.product(*hit))


def _read_halo(image: Any, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
    """Input ``[lo, hi)``; where ``hi`` passes the volume (an axis shorter than one patch, so
    ``lo`` is 0 there) it is padded symmetrically exactly as ``predict_volume`` pads."""
    shape = image.shape
    block = np.asarray(image[tuple(slice(a, min(b, n)) for a, b, n in zip(lo, hi, shape))])
    if block.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (z, y, x), got {block.dtype}")
    pad = [(0, max(0, b - n)) for b, n in zip(hi, shape)]
    return np.pad(block, pad, mode="symmetric") if any(p for _, p in pad) else block


def _predict_chunk(
    model: torch.nn.Module, image: Any, box: Box, windows: list[tuple[int, ...]], patch: Sequence[int],
    weight: np.ndarray, batch_size: int, device: torch.device, amp: bool,
) -> np.ndarray:
    """Blended float32 probability over ``box`` from the given (global) windows."""
    lo = [min(w[a] for w in windows) for a in range(3)]
    hi = [max(w[a] for w in windows) + p for a, p in enumerate(patch)]
    halo = _read_halo(image, lo, hi)
    shape = tuple(b - a for a, b in box)
    acc = np.zeros(shape, np.float32)
    norm = np.zeros(shape, np.float32)
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size]
        tiles = [halo[tuple(slice(s - l, s - l + p) for s, l, p in zip(w, lo, patch))] for w in batch]
        x = torch.from_numpy(np.stack([normalise(t) for t in tiles])[:, None]).to(device)
        with autocast(device, amp):
            prob = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
        for w, p in zip(batch, prob):
            inter = [(max(s, a), min(s + n, b)) for s, n, (a, b) in zip(w, patch, box)]
            src = tuple(slice(a - s, b - s) for s, (a, b) in zip(w, inter))
            dst = tuple(slice(a - c, b - c) for (c, _), (a, b) in zip(box, inter))
            acc[dst] += p[src] * weight[src]
            norm[dst] += weight[src]
    return acc / norm


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished store ``tmp`` onto ``out``, removing any previous ``out``.

    A directory cannot be ``os.replace``d onto a non-empty one, so an old result is first
    renamed aside; ``out`` is briefly absent but never holds a partial store."""
    if out.exists():
        old = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _remove_stale(out: Path) -> None:
    """Delete build and swap directories that earlier, interrupted runs left beside ``out``.

    One writer per output is assumed (Snakemake guarantees it), so any such directory is stale."""
    for pattern in (f"{out.name}.tmp-*", f"{out.name}.old-*"):
        for stale in out.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def _check_args(shape: Sequence[int], patch: Sequence[int], chunk: Sequence[int], overlap: float) -> None:
    """Fail early with the offending values rather than deep inside the chunk loop."""
    if len(shape) != 3 or len(patch) != 3 or len(chunk) != 3:
        raise ValueError(f"need a (z, y, x) image, patch and chunk; got {shape}, {patch}, {chunk}")
    if min(patch) < 1 or min(chunk) < 1:
        raise ValueError(f"patch {tuple(patch)} and chunk {tuple(chunk)} must be positive")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")


@torch.no_grad()
def predict_to_zarr(
    model: torch.nn.Module, image: Any, out_path: str | Path, patch_size: Sequence[int], chunk_zyx: Sequence[int],
    overlap: float = 0.5, batch_size: int = 4, device: torch.device | str = "cpu", amp: bool = True,
    threshold: float = 0.5, progress: bool = True,
) -> dict[str, Any]:
    """Segment a uint8 (z, y, x) volume of any size into a Zarr v3 group at ``out_path``.

    ``image`` is anything with ``.shape`` and numpy-style slicing (memmap, zarr array, ...);
    it is read one chunk-plus-halo at a time, never whole. The group holds ``prob``
    (float16: plenty for a probability, half the bytes of float32) and ``mask`` (uint8,
    ``prob > threshold`` computed in float32, as ``evaluate`` thresholds), both chunked by
    ``chunk_zyx`` and equal to ``predict_volume`` on the whole volume. Returns a summary.
    """
    import zarr

    shape = tuple(int(n) for n in image.shape)
    patch = tuple(int(p) for p in patch_size)
    _check_args(shape, patch, chunk_zyx, overlap)
    chunk = tuple(min(int(c), n) for c, n in zip(chunk_zyx, shape))
    device = torch.device(device)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    starts = [window_starts(n, p, overlap) for n, p in zip(shape, patch)]
    weight = blend_weight(patch)
    boxes = _chunk_boxes(shape, chunk)
    t0, runs = time.perf_counter(), 0
    was_training = model.training
    model.eval()
    try:
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        attrs = {"patch_size": list(patch), "overlap": overlap, "threshold": threshold, "chunk": list(chunk)}
        group.attrs.update(attrs)
        prob_arr = group.create_array("prob", shape=shape, chunks=chunk, dtype="float16", fill_value=0)
        mask_arr = group.create_array("mask", shape=shape, chunks=chunk, dtype="uint8", fill_value=0)
        for box in tqdm(boxes, desc=f"predict {out.name}", unit="chunk", file=sys.stderr, disable=not progress):
            windows = _windows_for(box, starts, patch)
            prob = _predict_chunk(model, image, box, windows, patch, weight, batch_size, device, amp)
            region = tuple(slice(a, b) for a, b in box)
            prob_arr[region] = prob.astype(np.float16)
            mask_arr[region] = (prob > threshold).astype(np.uint8)
            runs += len(windows)
        _replace_dir(tmp, out)
    finally:
        model.train(was_training)
        shutil.rmtree(tmp, ignore_errors=True)
    n_windows = int(np.prod([len(s) for s in starts]))
    return {"path": str(out), "shape": list(shape), "chunk": list(chunk), "chunks": len(boxes),
            "windows": n_windows, "windows_run": runs, "seconds": round(time.perf_counter() - t0, 3)}


def mesh_from_mask(
    mask: Any, spacing_zyx: Sequence[float], level: float = 0.5, step_size: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a binary (z, y, x) mask: float32 vertices (z, y, x) in physical units
    (nm when ``spacing_zyx`` is in nm) and int32 faces wound counter-clockwise seen from
    outside (right-hand normals point out; skimage's own winding is the reverse).

    The mask (numpy or zarr) is loaded whole: marching cubes needs the full grid, and a
    uint8 mask is a quarter the size of the probabilities that ``predict_to_zarr`` avoids
    holding. It is padded with one voxel of background so objects touching the volume
    border still get closed surfaces. An empty mask gives an empty mesh.
    """
    from skimage.measure import marching_cubes

    volume = np.pad(np.asarray(mask[...], dtype=np.float32), 1)
    if not volume.max() > level > volume.min():
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    spacing = tuple(float(s) for s in spacing_zyx)
    verts, faces, _, _ = marching_cubes(volume, level=level, spacing=spacing, step_size=step_size)
    return (verts - np.asarray(spacing)).astype(np.float32), faces[:, ::-1].astype(np.int32)


def _xyz(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) vertices as (x, y, z) for viewers; swapping axes mirrors the mesh, so the
    winding is reversed too to keep normals pointing outwards."""
    return np.asarray(verts, np.float32)[:, ::-1], np.asarray(faces, np.int32)[:, ::-1]


def write_ply(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY (compact; read by MeshLab, Blender, Neuroglancer), atomically.

    ``verts`` are (z, y, x) as ``mesh_from_mask`` returns them; the file stores x, y, z."""
    xyz, tri = _xyz(verts, faces)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(tri)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face_rec = np.empty(len(tri), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    face_rec["n"], face_rec["v"] = 3, tri
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.ascontiguousarray(xyz, dtype="<f4").tobytes())
        fh.write(face_rec.tobytes())


def write_obj(path: str | Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Wavefront OBJ (text, 1-based indices, x y z), atomically; for tools without PLY."""
    xyz, tri = _xyz(verts, faces)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        np.savetxt(fh, xyz, fmt="v %.9g %.9g %.9g")
        np.savetxt(fh, tri + 1, fmt="f %d %d %d")

