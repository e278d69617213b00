"""Every GPU measurement of issue 24 in one run: JSON lines under ``--out``, a table at the end.

Why one script: GPU time is lent in short slices, so everything that needs the device runs in
one call that cannot crash as a whole (a failing case writes its error into its own JSON line
and the next case runs) and keeps to a time budget (``--budget-s``; cases that would start after
it are recorded as skipped). Cases, in order:

- ``gpu_slots``: the slot this job claims on the real machine (``vemtransfer.core.gpu_slots``);
- ``train_throughput``: the authors' plain fp32 loop vs our ``train_model`` in fp16 / bf16, with
  and without channels_last_3d, and fp16 + channels_last_3d with host batches (DataLoader
  workers) instead of batches cut on the GPU; paper sizes (widths 28,36,48,64,80; 18x160x160;
  batch 10); reuses ``benchmarks.train_throughput``; ``ratio_vs_reference`` per variant;
- ``job_time``: one pretraining and one fine-tuning job (the paper config's training settings,
  ``config/config.yaml``) for a fixed number of steps on a synthetic split, seconds per step
  with the validation share; then ``paper_grid``: ``benchmarks.sizing.paper_grid_cost`` (the whole
  grid's GPU-hours for 1 and 4 GPUs);
- ``predict_volume``: whole-volume prediction through the OME-Zarr writer at 72x640x640 and
  144x1024x1024, overlap 0.5 and 0.25, paper network (the weights of the fine-tuned ``job_time``
  model when there is one): the new path (``device_predict``: windows blended on the GPU) and
  today's (``TorchRunner``, host blending), ``voxels_per_s``, ``mask_iou_vs_reference``,
  the largest probability difference, peak host RSS and GPU memory per case;
- ``real_em``: with ``--testdata`` (a copy of ``../shared/testdata``'s raw-file mirror, served as
  ``benchmarks.real_em`` serves it): ``recipe: paper`` trained on the medulla neurites (the one set
  deep enough for its 18-section window), and the CPU recipe on the VNC mitochondria with AMP
  (``train.cuda_precision``) and in fp32 (``train.amp: false``): test IoU, training minutes, the
  threshold baseline; without ``--testdata`` recorded as skipped.

Every line has ``benchmark``, ``case``, ``commit`` (``git rev-parse HEAD``, else
``$VEMTRANSFER_COMMIT``), ``device``, ``torch``, ``seconds``, ``peak_rss_mb`` (this case's, the
kernel's high-water mark reset before it) and ``peak_gpu_mb``. Timers synchronise the device;
warm-up (cuDNN autotuning, first calls) is outside them. ``--smoke``: tiny sizes on the CPU in
well under a minute (checks the code paths, not speed). Run with ``PYTHONUNBUFFERED=1``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._common import peak_rss_mb, sync

REPO = Path(__file__).resolve().parents[1]
PAPER = {"widths": (28, 36, 48, 64, 80), "patch": (18, 160, 160), "batch": 10}
SMOKE = {"widths": (2, 4, 4), "patch": (2, 16, 16), "batch": 2}


def commit() -> str:
    """``$VEMTRANSFER_COMMIT`` when set (a GPU machine gets the working tree on top of another
    commit, so its git names the wrong one), else ``git rev-parse HEAD`` (``-dirty`` with changes)."""
    if os.environ.get("VEMTRANSFER_COMMIT"):
        return os.environ["VEMTRANSFER_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def _reset_peaks(device: torch.device) -> None:
    try:  # resets VmHWM (Linux >= 4.0), so peak_rss_mb is this case's
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


class Suite:
    """Runs cases under a time budget and writes one JSON line per case."""

    def __init__(self, out: Path, device: torch.device, budget_s: float, smoke: bool) -> None:
        self.path, self.device, self.smoke = out / "gpu_suite.jsonl", device, smoke
        self.deadline = time.perf_counter() + budget_s
        self.rows: list[dict[str, Any]] = []
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'unknown'})"
        self.base = {"commit": commit(), "device": name, "torch": torch.__version__, "cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None, "smoke": smoke,
                     "host_cpus": os.cpu_count()}
        out.mkdir(parents=True, exist_ok=True)

    def record(self, benchmark: str, case: str, figures: dict[str, Any]) -> dict[str, Any]:
        row = {"benchmark": benchmark, "case": case, **self.base, **figures,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with self.path.open("a") as f:
            f.write(json.dumps(row, default=float) + "\n")
        self.rows.append(row)
        shown = {k: v for k, v in figures.items() if k not in ("traceback", "paper_grid")}
        print(f"[{benchmark}] {case}: {json.dumps(shown, default=float)[:400]}", flush=True)
        return row

    def case(self, benchmark: str, case: str, fn: Callable[[], dict[str, Any]], minimum_s: float = 0.0) -> dict[str, Any] | None:
        """``fn()``'s figures with this case's time and peaks; its error instead when it fails."""
        left = self.deadline - time.perf_counter()
        if left < minimum_s:
            self.record(benchmark, case, {"skipped": f"time budget: {left:.0f} s left, case needs ~{minimum_s:.0f} s"})
            return None
        print(f"[{benchmark}] {case}: running ({left:.0f} s of budget left)", flush=True)
        _reset_peaks(self.device)
        t0 = time.perf_counter()
        try:
            figures = fn()
            error = None
        except Exception as exc:  # noqa: BLE001 - one case failing must not end the suite
            figures, error = {}, f"{type(exc).__name__}: {exc}"
            figures["traceback"] = traceback.format_exc()[-3000:]
        sync(self.device)
        figures = {**figures, "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
                   "peak_gpu_mb": round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1) if self.device.type == "cuda" else None}
        if error:
            figures["error"] = error
        return self.record(benchmark, case, figures)


# ---------------------------------------------------------------- cases


def slot_case(device: torch.device) -> dict[str, Any]:
    from vemtransfer.core import gpu_slots
    from vemtransfer.core.device import pick_device

    picked = pick_device() if device.type == "cuda" else torch.device("cpu")
    return {"device_picked": str(picked), "visible_devices": gpu_slots.device_count(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "lock_dir": str(gpu_slots.lock_dir()),
            "slot": gpu_slots._claimed}


def train_cases(suite: Suite, sizes: dict[str, Any], warmup: int, ref_steps: int, steps: int, tmp: Path) -> None:
    from benchmarks import train_throughput as tt
    from vemtransfer.data.patches import PatchBatches

    device = suite.device
    patch, widths, batch = sizes["patch"], sizes["widths"], sizes["batch"]
    train, val, origins = tt.make_data(tmp, patch)

    def reference() -> dict[str, Any]:
        cfg = tt.train_config(batch, warmup + ref_steps + 1, 0)
        r = tt.run_reference(PatchBatches(train, origins, patch, cfg, tt.SEED), widths, cfg, warmup, device)
        return {"variant": "reference", "patches_per_s": r.patches_per_s, "final_loss": r.final_loss, "ratio_vs_reference": 1.0,
                "widths": list(widths), "patch": list(patch), "batch": batch, "timed_steps": ref_steps - 1, "steps_total": warmup + ref_steps + 1}

    ref = suite.case("train_throughput", "reference (authors' fp32 loop)", reference, 20)
    rate = ref.get("patches_per_s") if ref else None
    variants = [("fp16", True, True), ("bf16", True, True), ("fp16", False, True), ("bf16", False, True), ("fp16", True, False)]
    if suite.smoke:
        variants = variants[:2]
    for precision, cl, on_device in variants:
        name = f"ours {precision}{' channels_last_3d' if cl else ''}{'' if on_device else ', host batches (4 workers)'}"

        def ours(precision=precision, cl=cl, on_device=on_device, name=name) -> dict[str, Any]:
            cfg = dataclasses.replace(tt.train_config(batch, warmup + steps + 1, 0 if on_device or suite.smoke else 4),
                                      cuda_precision=precision, cuda_channels_last=cl, cuda_data_on_device=on_device)
            r = tt.run_ours(name, train, val, origins, patch, widths, cfg, warmup, device, tmp / name.replace(" ", "_").replace(",", ""))
            return {"variant": name, "precision": precision, "channels_last_3d": cl, "batches_on_device": on_device,
                    "patches_per_s": r.patches_per_s, "final_loss": r.final_loss,
                    "ratio_vs_reference": r.patches_per_s / rate if rate and r.patches_per_s else None,
                    "widths": list(widths), "patch": list(patch), "batch": batch, "steps_total": warmup + steps + 1}

        suite.case("train_throughput", name, ours, 15)


def _synthetic_split(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic kidney tissue of ``shape``: a small generated block tiled (generation is slow at full size)."""
    from vemtransfer.data.synthetic import generate_tissue

    block = tuple(min(n, m) for n, m in zip(shape, (36, 256, 256)))
    image, masks = generate_tissue("kidney", block, seed=seed)
    reps = [-(-n // b) for n, b in zip(shape, block)]
    cut = tuple(slice(0, n) for n in shape)
    return np.tile(image, reps)[cut], np.tile(masks["mito"].astype(np.uint8), reps)[cut]


def job_cases(suite: Suite, sizes: dict[str, Any], steps: int, split: tuple[int, int, int], tmp: Path) -> dict[str, float]:
    """One pretraining and one fine-tuning job (paper config's settings) for ``steps`` steps; seconds per step."""
    from vemtransfer.config import ModelConfig, load_config
    from vemtransfer.data.patches import tile_origins
    from vemtransfer.data.splits import Volume
    from vemtransfer.training.train import train_model

    cfg = load_config(REPO / "config" / "config.yaml")
    patch = tuple(sizes["patch"])
    image, label = _synthetic_split((split[0] + patch[0], *split[1:]), seed=3)
    train = Volume(image[: split[0]], label[: split[0]])
    val = Volume(image[split[0] :], label[split[0] :])
    stride = tuple(max(1, p // 2) for p in patch)
    origins = tile_origins(train.image.shape, patch, stride)
    model_cfg = ModelConfig(tuple(sizes["widths"]), cfg.model.bn_momentum)
    ev = cfg.evaluation
    measured: dict[str, float] = {}
    for stage in ("pretrain", "finetune"):
        def job(stage=stage) -> dict[str, Any]:
            tc = cfg.train_config(stage)
            crop = tuple(min(c, p) for c, p in zip(tc.val_crop_size or patch, patch))
            tc = dataclasses.replace(tc, steps=steps, max_steps=None, batch_size=sizes["batch"], num_workers=0 if suite.smoke else 4,
                                     val_crop_size=crop, val_crops=min(tc.val_crops or 32, 4 if suite.smoke else 32))
            marks: dict[int, float] = {}

            def mark(step: int) -> None:
                if step in (1, steps - 1, steps):
                    sync(suite.device)
                    marks[step] = time.perf_counter()

            init = tmp / "pretrain" / "model.pt" if stage == "finetune" and (tmp / "pretrain" / "model.pt").exists() else None
            use = origins if stage == "pretrain" else origins[: max(1, min(len(origins), 100))]
            history = train_model(train, val, use, patch, tc, model_cfg, ev, tmp / stage, seed=5, init=init, device=suite.device, callback=mark)
            per_step = (marks[steps - 1] - marks[1]) / max(1, steps - 2)
            validation = max(0.0, marks[steps] - marks[steps - 1] - per_step)
            amortised = per_step + validation / tc.val_every
            measured[stage] = amortised
            return {"stage": stage, "steps": steps, "s_per_step": per_step, "validation_s": validation, "val_every": tc.val_every,
                    "s_per_step_with_validation": amortised, "precision": tc.cuda_precision, "channels_last_3d": tc.cuda_channels_last,
                    "init": str(init) if init else None, "tiles": len(use), "final_loss": history["loss"][-1][1],
                    "model_mb": (tmp / stage / "model.pt").stat().st_size / 2**20}

        suite.case("job_time", stage, job, 15)
    return measured


def predict_cases(suite: Suite, sizes: dict[str, Any], shapes: Sequence[tuple[int, int, int]], overlaps: Sequence[float],
                  chunk: tuple[int, int, int], block: tuple[int, int, int], batch: int, weights: Path | None, tmp: Path) -> None:
    from vemtransfer.inference.device_predict import DeviceRunner
    from vemtransfer.inference.ome import open_prediction
    from vemtransfer.inference.runners import TorchRunner
    from vemtransfer.inference.volume import predict_to_zarr
    from vemtransfer.model.checkpoint import load_model
    from vemtransfer.model.network import RSUNet

    device, patch = suite.device, tuple(sizes["patch"])
    if weights is not None and weights.exists():
        model, source = load_model(weights), str(weights.name)
    else:
        torch.manual_seed(0)
        model, source = RSUNet(sizes["widths"]), "random init (seed 0)"
    model.eval()
    precision = "fp16" if device.type == "cuda" else "fp32"
    runners = {"new (device blend)": lambda: DeviceRunner(model, device, precision, channels_last=device.type == "cuda"),
               "today (host blend)": lambda: TorchRunner(model, device, amp=True)}
    for shape in shapes:
        image, _ = _synthetic_split(shape, seed=7)
        for overlap in overlaps:
            outputs: dict[str, Path] = {}
            for path, make in runners.items():
                def run(path=path, make=make) -> dict[str, Any]:
                    runner = make()
                    warm = image[: patch[0]]  # one row of windows: the same batch shapes (cuDNN autotuning) as the volume
                    predict_to_zarr(runner, warm, tmp / "warm.zarr", patch, chunk, overlap, batch, block_zyx=block, progress=False)
                    sync(device)
                    _reset_peaks(device)
                    out = tmp / f"{path.split()[0]}.zarr"
                    t0 = time.perf_counter()
                    summary = predict_to_zarr(runner, image, out, patch, chunk, overlap, batch, block_zyx=block, progress=False)
                    sync(device)
                    seconds = time.perf_counter() - t0
                    outputs[path] = out
                    figures = {"path": path, "network": "paper" if tuple(sizes["widths"]) == PAPER["widths"] else list(sizes["widths"]),
                               "weights": source, "shape": list(shape), "overlap": overlap, "chunk": list(chunk), "block": list(block),
                               "batch": batch, "voxels_per_s": image.size / seconds, "predict_s": seconds,
                               "windows": summary["windows"], "windows_run": summary["windows_run"], "runner": summary["runner"]}
                    if path != "today (host blend)" or "new (device blend)" not in outputs:
                        return figures
                    new_prob, new_mask = open_prediction(outputs["new (device blend)"])
                    old_prob, old_mask = open_prediction(out)
                    a, b = np.asarray(new_mask[...]) == 1, np.asarray(old_mask[...]) == 1
                    union = np.logical_or(a, b).sum()
                    figures["mask_iou_new_vs_today"] = float(np.logical_and(a, b).sum() / union) if union else 1.0
                    figures["max_prob_diff_new_vs_today"] = float(np.abs(np.asarray(new_prob[...]) - np.asarray(old_prob[...])).max())
                    figures["foreground_fraction"] = float(b.mean())
                    return figures

                # today's path at 144x1024x1024 is slow (~25 s at overlap 0.5): give it room in the budget
                need = 4 if suite.smoke else (40 if shape[0] * shape[1] > 10**5 else 12)
                row = suite.case("predict_volume", f"{path} {'x'.join(map(str, shape))} overlap {overlap}", run, need)
                if row and "mask_iou_new_vs_today" in row:
                    _backfill_iou(suite, shape, overlap, row)
            for p in outputs.values():
                shutil.rmtree(p, ignore_errors=True)


def profile_cases(suite: Suite, sizes: dict[str, Any], shape: tuple[int, int, int], chunk: tuple[int, int, int],
                  block: tuple[int, int, int], tmp: Path) -> None:
    """Where whole-volume prediction's time goes: the network alone on device windows (the ceiling, at batch 16
    and 32), the whole stream at batch 32, and the host-side profile (cProfile, top functions by cumulative
    time; GPU time shows at the calls that wait for it) of the stream at batch 16."""
    import cProfile
    import io
    import pstats

    from vemtransfer.inference.device_predict import DeviceRunner
    from vemtransfer.inference.volume import predict_to_zarr
    from vemtransfer.model.network import RSUNet

    device, patch = suite.device, tuple(sizes["patch"])
    torch.manual_seed(0)
    precision = "fp16" if device.type == "cuda" else "fp32"
    runner = DeviceRunner(RSUNet(sizes["widths"]).eval(), device, precision, channels_last=device.type == "cuda")
    image, _ = _synthetic_split(shape, seed=7)
    window_voxels = int(np.prod(patch))
    for batch in (16, 32):
        def network(batch=batch) -> dict[str, Any]:
            x = torch.randint(0, 256, (batch, *patch), dtype=torch.uint8, device=device)
            for _ in range(3):
                runner.forward(x)
            sync(device)
            n, t0 = (3 if suite.smoke else 20), time.perf_counter()
            for _ in range(n):
                runner.forward(x)
            sync(device)
            seconds = time.perf_counter() - t0
            return {"batch": batch, "windows_per_s": n * batch / seconds, "window_voxels_per_s": n * batch * window_voxels / seconds}

        suite.case("predict_profile", f"network only, batch {batch}", network, 5)

    def stream(batch: int, profile: bool) -> dict[str, Any]:
        predict_to_zarr(runner, image[: patch[0]], tmp / "warm.zarr", patch, chunk, 0.5, batch, block_zyx=block, progress=False)
        sync(device)
        prof = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        summary = predict_to_zarr(runner, image, tmp / f"b{batch}.zarr", patch, chunk, 0.5, batch, block_zyx=block, progress=False)
        sync(device)
        if prof:
            prof.disable()
        seconds = time.perf_counter() - t0
        figures = {"batch": batch, "shape": list(shape), "overlap": 0.5, "voxels_per_s": image.size / seconds, "predict_s": seconds,
                   "windows_per_s": summary["windows_run"] / seconds}
        if prof:
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(25)
            figures["profile_top"] = text.getvalue()[-6000:]
        return figures

    suite.case("predict_profile", "stream, batch 32", lambda: stream(32, False), 10)
    suite.case("predict_profile", "stream, batch 16, cProfile", lambda: stream(16, True), 10)


def _backfill_iou(suite: Suite, shape: Sequence[int], overlap: float, today: dict[str, Any]) -> None:
    """The new path's line gets ``mask_iou_vs_reference`` (today's path is the reference) as a line of its own."""
    new = next((r for r in suite.rows if r.get("path") == "new (device blend)" and r.get("shape") == list(shape)
                and r.get("overlap") == overlap and "error" not in r), None)
    if new is None:
        return
    figures = {k: v for k, v in new.items() if k not in suite.base and k not in ("benchmark", "case", "time")}
    figures.update(mask_iou_vs_reference=today["mask_iou_new_vs_today"], max_prob_diff_vs_reference=today["max_prob_diff_new_vs_today"],
                   reference_voxels_per_s=today.get("voxels_per_s"),
                   speedup_vs_reference=new["voxels_per_s"] / today["voxels_per_s"] if today.get("voxels_per_s") else None)
    suite.record("predict_volume", f"summary {'x'.join(map(str, shape))} overlap {overlap}", figures)


def paper_grid_case(suite: Suite, measured: dict[str, float], model_mb: float | None) -> None:
    from benchmarks.sizing import paper_grid_cost

    if {"pretrain", "finetune"} - set(measured):
        suite.record("paper_grid", "GPU-hours", {"skipped": "job_time did not measure both stages"})
        return
    lines: list[str] = []
    figures = {"one_gpu": paper_grid_cost(measured["pretrain"], measured["finetune"], 1, model_mb or 5.8, out=lines.append)}
    figures["four_gpus"] = paper_grid_cost(measured["pretrain"], measured["finetune"], 4, model_mb or 5.8, out=lines.append)
    print("\n".join(lines), flush=True)
    suite.record("paper_grid", "GPU-hours", {"paper_grid": figures, "table": lines})


# ---------------------------------------------------------------- main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_suite.jsonl")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--budget-s", type=float, default=300.0, help="start no case after this many seconds")
    p.add_argument("--testdata", type=Path, default=None, help="../shared/testdata (real EM); absent: skipped with a note")
    p.add_argument("--only", nargs="+", choices=["slots", "train", "jobs", "predict", "profile", "real_em"], default=None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (checks the code paths in < 1 min)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    device = torch.device("cpu" if args.smoke else args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    only = set(args.only or ["slots", "train", "jobs", "predict", "profile", "real_em"])
    suite = Suite(args.out, device, args.budget_s, args.smoke)
    sizes = SMOKE if args.smoke else PAPER
    print(f"# gpu_suite on {suite.base['device']}, torch {torch.__version__}, commit {suite.base['commit']}; lines -> {suite.path}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if "slots" in only:
            suite.case("gpu_slots", "claim", lambda: slot_case(device))
        if "train" in only:
            (tmp / "train").mkdir()
            if args.smoke:
                train_cases(suite, sizes, warmup=1, ref_steps=3, steps=3, tmp=tmp / "train")
            else:
                train_cases(suite, sizes, warmup=5, ref_steps=25, steps=40, tmp=tmp / "train")
        measured: dict[str, float] = {}
        if "jobs" in only:
            (tmp / "jobs").mkdir()
            measured = job_cases(suite, sizes, 4 if args.smoke else 40, (6, 48, 48) if args.smoke else (72, 640, 640), tmp / "jobs")
            model = tmp / "jobs" / "finetune" / "model.pt"
            paper_grid_case(suite, measured, model.stat().st_size / 2**20 if model.exists() else None)
        if "predict" in only:
            (tmp / "predict").mkdir()
            weights = tmp / "jobs" / "finetune" / "model.pt"
            if args.smoke:
                predict_cases(suite, sizes, [(4, 40, 40)], [0.5, 0.25], (4, 32, 32), (4, 32, 32), 4, weights, tmp / "predict")
            else:
                predict_cases(suite, sizes, [(72, 640, 640), (144, 1024, 1024)], [0.5, 0.25], (32, 512, 512), (64, 1024, 1024), 16,
                              weights, tmp / "predict")
        if "profile" in only:
            (tmp / "profile").mkdir()
            if args.smoke:
                profile_cases(suite, sizes, (4, 40, 40), (4, 32, 32), (4, 32, 32), tmp / "profile")
            else:
                profile_cases(suite, sizes, (72, 640, 640), (32, 512, 512), (64, 1024, 1024), tmp / "profile")
        if "real_em" in only:
            real_em_cases(suite, args.testdata, tmp / "real_em", args.smoke)
    _summary(suite)
    return suite.rows


REAL_EM_CASES = (  # (case, task, recipe, overrides)
    ("recipe paper", "FlyMedulla-N", "paper", ("tasks.FlyMedulla-N.validation.axis=z",)),  # y (250 px) holds no 160-px crop + patch
    ("recipe cpu, amp", "FlyVNC-M", "cpu", ()),
    ("recipe cpu, fp32", "FlyVNC-M", "cpu", ("train.amp=false",)),
)


def real_em_cases(suite: Suite, testdata: Path | None, workdir: Path, smoke: bool) -> None:
    """``benchmarks.real_em`` on the GPU: the paper's recipe on real EM, and AMP vs fp32 learning the same volume."""
    if testdata is None or not testdata.is_dir():
        for case, task, _, _ in REAL_EM_CASES:
            suite.record("real_em", case, {"task": task, "skipped": "no --testdata (a copy of ../shared/testdata's raw-file mirror)"})
        return
    from benchmarks import real_em

    for i, (case, task, recipe, overrides) in enumerate(REAL_EM_CASES):
        def run(task=task, recipe=recipe, overrides=overrides, i=i) -> dict[str, Any]:
            argv = ["--mirror", str(testdata), "--workdir", str(workdir / str(i)), "--recipe", recipe, "--tasks", task]
            argv += [a for o in overrides for a in ("--set", o)] + (["--smoke"] if smoke else [])
            r = real_em.main(argv)[0]
            return {"task": r["task"], "recipe": recipe, "overrides": list(overrides), "test_iou": r["test"]["iou_fg"],
                    "val_iou": r["val_iou"], "threshold_iou": max(t["iou_fg"] for t in r["thresholds"].values()),
                    "train_minutes": r["train_s"] / 60, "steps": r["steps"]}

        suite.case("real_em", case, run, minimum_s=30)


def _summary(suite: Suite) -> None:
    print("\n# summary")
    print("| benchmark | case | key figure | peak RSS MB | peak GPU MB | s | error |")
    print("|---|---|---|---|---|---|---|")
    for r in suite.rows:
        key = next((f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in
                    ("ratio_vs_reference", "mask_iou_vs_reference", "voxels_per_s", "s_per_step_with_validation", "device_picked", "skipped")
                    if r.get(k) is not None), "")
        if r.get("benchmark") == "predict_volume" and r.get("voxels_per_s") and "mask_iou_vs_reference" in r:
            key += f" voxels/s={r['voxels_per_s']:,.0f}"
        print(f"| {r['benchmark']} | {r['case']} | {key} | {r.get('peak_rss_mb', '')} | {r.get('peak_gpu_mb', '')} | "
              f"{r.get('seconds', '')} | {(r.get('error') or '')[:80]} |")
    print(f"\n{len(suite.rows)} lines in {suite.path}", flush=True)


if __name__ == "__main__":
    main()
