"""Inference engines: whole-volume voxels/s and equality against fp32 PyTorch, on CPU or CUDA.

Why: many labs predict on CPU workstations, so the engine ``prediction.engine: auto`` picks on
a CPU must be the fastest one that gives the same masks; on a GPU the same table shows what
fp16 autocast, larger batches and channels_last_3d give, and whether fp16 keeps the masks.
Each variant predicts the same
volume through the real path (``volume.predict_to_zarr``: windows, blending, OME-Zarr), at
the demo/CPU-recipe network and the paper network; speed is the best of ``--rounds``
(this machine's speed drifts by ~10 % over minutes) and equality is the mask IoU and the
largest probability difference against the baseline, fp32 PyTorch at batch 4 (the path
before this benchmark). bf16 runs only on a CPU with native bf16 (emulated it is ~24x slower).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import machine, table

NETWORKS = {
    # name: (widths, planar_levels, patch, volume on CPU, volume on CUDA)
    "cpu recipe (demo)": ((8, 8, 16, 32, 64), 2, (3, 128, 128), (9, 384, 384), (36, 1024, 1024)),
    "paper": ((28, 36, 48, 64, 80), 0, (18, 160, 160), (27, 320, 320), (72, 640, 640)),
}
SMOKE = {"tiny": ((2, 4, 4), 0, (2, 16, 16), (4, 40, 40), (4, 40, 40))}


def _variants(model: torch.nn.Module, patch: tuple[int, ...], device: torch.device, compile_: bool) -> dict[str, tuple[Callable, int]]:
    """name -> (runner factory, batch size); the first is the baseline. Factories build lazily,
    so a missing engine fails only its row."""
    from vemtransfer.inference.predict import cpu_bf16_native
    from vemtransfer.inference.runners import OnnxRuntimeRunner, OpenVinoRunner, TorchRunner

    if device.type == "cuda":
        return {
            "torch fp32, batch 4 (baseline)": (lambda: TorchRunner(model, device, amp=False), 4),
            "torch fp16 autocast, batch 4": (lambda: TorchRunner(model, device), 4),
            "torch fp16 autocast, batch 16": (lambda: TorchRunner(model, device), 16),
            "torch fp16 autocast channels_last_3d, batch 16": (lambda: TorchRunner(model, device, channels_last=True), 16),
        }
    out: dict[str, tuple[Callable, int]] = {
        "torch fp32, batch 4 (baseline)": (lambda: TorchRunner(model), 4),
        "torch fp32 channels_last_3d": (lambda: TorchRunner(model, channels_last=True), 4),
        "torch fp32, batch 16": (lambda: TorchRunner(model), 16),
        "onnxruntime fp32": (lambda: OnnxRuntimeRunner(model, patch), 4),
        "openvino fp32": (lambda: OpenVinoRunner(model, patch), 4),
        "openvino fp32, batch 16": (lambda: OpenVinoRunner(model, patch), 16),
    }
    if compile_:
        out["torch.compile fp32"] = (lambda: TorchRunner(torch.compile(model)), 4)
    if cpu_bf16_native():
        out["openvino bf16"] = (lambda: OpenVinoRunner(model, patch, precision="bf16"), 4)
    return out


def _predict(runner, image: np.ndarray, patch, batch: int, out: Path) -> tuple[float, np.ndarray]:
    from vemtransfer.inference.ome import open_prediction
    from vemtransfer.inference.volume import predict_to_zarr

    t0 = time.perf_counter()
    predict_to_zarr(runner, image, out, patch, image.shape, 0.5, batch, block_zyx=image.shape, progress=False)
    return time.perf_counter() - t0, open_prediction(out)[0][...]


def measure(name: str, spec, rounds: int, device: torch.device, compile_: bool) -> list[list[object]]:
    import ome_zarr.writer  # noqa: F401 - imported once here, not inside the first variant's timing

    from vemtransfer.model.network import RSUNet

    widths, planar, patch, cpu_shape, cuda_shape = spec
    shape = cuda_shape if device.type == "cuda" else cpu_shape
    torch.manual_seed(0)
    model = RSUNet(widths, planar_levels=planar).eval()
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    rows, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for label, (factory, batch) in _variants(model, patch, device, compile_).items():
            try:
                t0 = time.perf_counter()
                runner = factory()
                runner(np.zeros((1, 1, *patch), np.float32))  # export, compile, first-call costs
                setup = time.perf_counter() - t0
                times, prob = [], None
                for _ in range(rounds):
                    seconds, prob = _predict(runner, image, patch, batch, Path(tmp) / "p.zarr")
                    times.append(seconds)
            except Exception as exc:  # noqa: BLE001 - a missing engine is a row, not a crash
                rows.append([name, label, "-", "-", "-", "-", "-", f"failed: {type(exc).__name__}: {str(exc)[:60]}"])
                continue
            rate = image.size / min(times)
            if base is None:
                base = (rate, prob)
            a, b = base[1] > 0.5, prob > 0.5
            union = np.logical_or(a, b).sum()
            iou = float(np.logical_and(a, b).sum() / union) if union else 1.0
            rows.append([name, label, batch, rate, rate / base[0], iou, float(np.abs(prob - base[1]).max()),
                         f"setup {setup:.1f} s; {runner.description}"])
    return rows


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    p.add_argument("--rounds", type=int, default=2, help="timed predictions per variant (best counts)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile on CPU)")
    p.add_argument("--smoke", action="store_true", help="a tiny network, one round (CI)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    specs = SMOKE if args.smoke else {n: NETWORKS[n] for n in args.networks}
    device = torch.device(args.device)
    rows = [row for name, spec in specs.items() for row in measure(name, spec, 1 if args.smoke else args.rounds, device, args.compile)]
    print(f"# inference engines on {machine(device)}")
    print("# whole volume through volume.predict_to_zarr, overlap 0.5; equality against the baseline row of each network")
    print(table(["network", "engine", "batch", "voxels/s", "speed vs baseline", "mask IoU vs baseline", "max |prob diff|", "note"], rows))
    return rows


if __name__ == "__main__":
    main()
