"""Whole-volume inference: peak memory and throughput versus volume size, and AMP equality.

Why: labs predict volumes far larger than RAM, so ``volume.predict_to_zarr`` (blocks of
windows, partial sums on disk, OME-Zarr out) must hold a fixed working set whatever the
volume size, while ``infer.predict_volume`` (everything in RAM) grows with it. The input is
generated lazily block by block (``LazyVolume``), never materialised, so the sweep reaches
sizes beyond RAM. Each case runs in a fresh subprocess and reports its peak RSS (VmHWM,
~300 MB of which is torch itself) and, on CUDA, its peak GPU memory; what matters is the
growth per Mvoxel. ``predict_volume`` runs only up to ``--in-memory-max`` Mvoxels (it must
hold the volume). Engines and fp16 vs fp32 equality: ``benchmarks/inference_engines.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import csv, ints, machine, peak_rss_mb, run_child, table

METHODS = ("predict_volume", "predict_to_zarr")


class LazyVolume:
    """A uint8 (z, y, x) volume computed from coordinates on every read: a textured
    pseudo-random pattern that costs no memory beyond the region asked for."""

    dtype = np.dtype(np.uint8)

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(int(n) for n in shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        z, y, x = (np.arange(n, dtype=np.uint32)[k] for n, k in zip(self.shape, key))
        v = z[:, None, None] * 73856093 ^ y[None, :, None] * 19349663 ^ x[None, None, :] * 83492791
        return ((v ^ (v >> 13)) & 255).astype(np.uint8)


def _child(method: str, size: str, out_dir: str, args: argparse.Namespace) -> dict[str, float]:
    """Run one case in this (fresh) process and report its time and peaks."""
    from vemtransfer.inference.predict import predict_volume
    from vemtransfer.inference.runners import TorchRunner
    from vemtransfer.inference.volume import predict_to_zarr
    from vemtransfer.model.network import RSUNet

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = RSUNet(args.widths).to(device).eval()
    image = LazyVolume(ints(size))
    amp = args.precision == "fp16"
    t0 = time.perf_counter()
    if method == "predict_volume":
        prob = predict_volume(model, image[tuple(slice(None) for _ in range(3))], args.patch, args.overlap, args.batch, device, amp=amp)
        assert prob.shape == image.shape
    else:
        runner = TorchRunner(model, device, amp=amp)
        predict_to_zarr(runner, image, Path(out_dir) / "pred.zarr", args.patch, args.chunk, args.overlap, args.batch,
                        block_zyx=args.block, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "gpu_mb": gpu}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--widths", type=ints, default=(28, 36, 48, 64, 80) if cuda else (1, 1, 1), help="RSUNet widths")
    p.add_argument("--patch", type=ints, default=(18, 160, 160) if cuda else (8, 64, 64), help="z,y,x")
    p.add_argument("--overlap", type=float, default=0.5 if cuda else 0.0,
                   help="window overlap (CPU default 0: memory does not depend on it and the sweep is 8x faster)")
    p.add_argument("--chunk", type=ints, default=(36, 512, 512) if cuda else (32, 512, 512), help="OME-Zarr chunk z,y,x")
    p.add_argument("--block", type=ints, default=(72, 1024, 1024) if cuda else (32, 1024, 1024), help="block of windows z,y,x")
    p.add_argument("--sizes", default="72,1024,1024;144,2048,2048" if cuda else "32,1024,1024;32,2048,2048;64,2048,2048;128,2048,2048",
                   help="volume sizes z,y,x separated by ';' (lazily generated)")
    p.add_argument("--in-memory-max", type=float, default=300.0, help="largest volume (Mvoxels) predict_volume is run on")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp16" if cuda else "fp32", help="fp16 = CUDA autocast")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    p.add_argument("--child", nargs=3, metavar=("METHOD", "SIZE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.widths, args.patch, args.chunk, args.block = (2, 4, 4), (2, 16, 16), (4, 32, 32), (4, 48, 48)
        args.sizes, args.in_memory_max = "4,32,32;8,48,48;8,64,64;8,96,96", 0.02
    args.size_list = [ints(s) for s in args.sizes.split(";")]
    return args


def _child_args(args: argparse.Namespace) -> list[str]:
    return ["--device", args.device, "--widths", csv(args.widths), "--patch", csv(args.patch), "--overlap", str(args.overlap),
            "--chunk", csv(args.chunk), "--block", csv(args.block), "--batch", str(args.batch), "--precision", args.precision]


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    args = parse(argv)
    if args.child:
        method, size, out = args.child
        print(json.dumps(_child(method, size, out, args)))
        return []
    rows: list[list[object]] = []
    peaks: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.size_list:
            mvox = float(np.prod(size)) / 1e6
            for method in METHODS:
                if method == "predict_volume" and mvox > args.in_memory_max:
                    continue
                r = run_child("benchmarks.inference_memory", [method, csv(size), tmp, *_child_args(args)],
                              f"{method} on {csv(size)}")
                peaks[method].append((mvox, r["rss_mb"]))
                rows.append([csv(size), mvox, method, r["seconds"], mvox * 1e6 / r["seconds"], r["rss_mb"], r["gpu_mb"]])
    print(f"# whole-volume inference on {machine(torch.device(args.device))}")
    print(f"# RSUNet widths {csv(args.widths)}, patch {'x'.join(map(str, args.patch))}, overlap {args.overlap}, batch {args.batch}, "
          f"{args.precision}; block {'x'.join(map(str, args.block))}, OME-Zarr chunk {'x'.join(map(str, args.chunk))}; "
          f"input generated lazily; peak GPU MB nan = no CUDA")
    print(table(["volume z,y,x", "Mvoxels", "method", "seconds", "voxels/s", "peak RSS MB", "peak GPU MB"], rows))
    derived = []
    for method, points in peaks.items():
        if len(points) >= 2:
            (v0, m0), (v1, m1) = points[0], points[-1]
            derived.append([f"{method}: peak RSS growth, {v0:g} -> {v1:g} Mvoxels (MB per Mvoxel)", (m1 - m0) / (v1 - v0)])
            if len(points) > 2:
                (va, ma), (vb, mb) = points[-2], points[-1]
                derived.append([f"{method}: peak RSS growth, {va:g} -> {vb:g} Mvoxels (MB per Mvoxel)", (mb - ma) / (vb - va)])
    print()
    print(table(["derived from the rows above", "value"], derived))
    return rows


if __name__ == "__main__":
    main()
