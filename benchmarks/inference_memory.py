"""Whole-volume inference: throughput and peak memory versus volume size.

Why: Fig. 5 segments a 219 x 2000 x 2000 volume, whose float32 accumulators alone do not fit
comfortably in RAM. ``infer.predict_volume`` holds the volume's blend accumulators in
memory (its peak grows with the volume); ``volume.predict_to_zarr`` works chunk by chunk
(its peak should stay flat). Each measurement runs in a fresh subprocess so one case's
allocations cannot inflate another's peak RSS (VmHWM of that process, which
includes ~300 MB of torch itself). What matters is how the peak *grows* from the smallest to
the largest volume. Peak GPU memory is reported when CUDA is used.
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


def _child(method: str, image_path: str, out_dir: str, widths: Sequence[int], patch: Sequence[int], chunk: Sequence[int],
           batch: int, device_name: str) -> dict[str, float]:
    """Run one case in this (fresh) process and report its time and peaks."""
    from vemtransfer.infer import predict_volume
    from vemtransfer.model import RSUNet
    from vemtransfer.volume import predict_to_zarr

    device = torch.device(device_name)
    torch.manual_seed(0)
    model = RSUNet(widths).to(device).eval()
    image = np.load(image_path, mmap_mode="r")
    t0 = time.perf_counter()
    if method == "predict_volume":
        prob = predict_volume(model, image, tuple(patch), 0.5, batch, device, amp=True)
        assert prob.shape == image.shape
    else:
        predict_to_zarr(model, image, Path(out_dir) / "pred.zarr", patch, chunk, 0.5, batch, device, amp=True, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "gpu_mb": gpu}


def measure(method: str, image_path: Path, out_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    """One case in a fresh interpreter."""
    child = [method, str(image_path), str(out_dir), "--widths", csv(args.widths), "--patch", csv(args.patch), "--chunk", csv(args.chunk),
             "--batch", str(args.batch), "--device", args.device]
    return run_child("benchmarks.inference_memory", child, f"{method} on {image_path.name}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--widths", type=ints, default=(28, 36, 48, 64, 80) if cuda else (4, 4, 8, 8))
    p.add_argument("--patch", type=ints, default=(18, 160, 160) if cuda else (8, 64, 64), help="z,y,x")
    p.add_argument("--chunk", type=ints, default=(36, 640, 640) if cuda else (16, 256, 256), help="predict_to_zarr chunk z,y,x")
    p.add_argument("--sizes", default="36,640,640;72,960,960;108,1280,1280" if cuda else "8,256,256;16,384,384;32,512,512",
                   help="volume sizes z,y,x separated by ';'")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    p.add_argument("--child", nargs=3, metavar=("METHOD", "IMAGE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.widths, args.patch, args.chunk, args.sizes = (2, 4, 4), (2, 16, 16), (4, 32, 32), "4,32,32;8,48,48;8,64,64"
    args.sizes = [ints(s) for s in args.sizes.split(";")]
    return args


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    args = parse(argv)
    if args.child:
        print(json.dumps(_child(*args.child, args.widths, args.patch, args.chunk, args.batch, args.device)))
        return []
    rows: list[list[object]] = []
    peaks: dict[str, list[float]] = {m: [] for m in METHODS}
    rates: dict[str, list[float]] = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        rng = np.random.default_rng(0)
        for size in args.sizes:
            path = tmp / f"image_{csv(size)}.npy"
            np.save(path, rng.integers(0, 256, size, dtype=np.uint8))
            for method in METHODS:
                r = measure(method, path, tmp, args)
                voxels = int(np.prod(size))
                peaks[method].append(r["rss_mb"])
                rates[method].append(voxels / r["seconds"])
                rows.append([csv(size), f"{voxels / 1e6:.2f}", method, r["seconds"], voxels / r["seconds"],
                             r["rss_mb"], r["gpu_mb"]])
    print(f"# whole-volume inference on {machine(torch.device(args.device))}")
    print(f"# widths {csv(args.widths)}, patch {'x'.join(map(str, args.patch))}, overlap 0.5, batch {args.batch}, "
          f"zarr chunk {'x'.join(map(str, args.chunk))}; peak GPU MB nan = no CUDA")
    print(table(["volume z,y,x", "Mvoxels", "method", "seconds", "voxels/s", "peak RSS MB", "peak GPU MB"], rows))
    mvox = (np.prod(args.sizes[-1]) - np.prod(args.sizes[0])) / 1e6
    print()
    print(table(["derived from the rows above", "value"], [
        *[[f"{m}: peak RSS growth, smallest -> largest volume (MB per Mvoxel)", (p[-1] - p[0]) / mvox] for m, p in peaks.items()],
        ["largest volume: predict_to_zarr / predict_volume peak RSS", peaks["predict_to_zarr"][-1] / peaks["predict_volume"][-1]],
        ["largest volume: predict_to_zarr / predict_volume voxels/s", rates["predict_to_zarr"][-1] / rates["predict_volume"][-1]],
    ]))
    return rows


if __name__ == "__main__":
    main()
