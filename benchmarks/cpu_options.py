"""Which CPU training options are worth it: speed per step and whether the learned model stays equal.

Why: the CPU recipe (``recipe: cpu``) turns on ``channels_last`` and ``cpu_precision: auto``
(bf16 autocast only where the CPU computes bf16 natively), and the workflow runs training
jobs with ``resources.train.threads`` threads each. Each option must pay for itself in speed
without changing what is learned. This benchmark trains the recipe on the real FlyVNC-M
data (prepared as ``benchmarks.real_em`` does, from ``../shared/testdata``) for a short,
fixed number of steps per variant, from the same seed, in rounds (each round runs every
variant once, in turn, so a slow spell of a shared machine hits them all), and reports the
best seconds per step, the loss at the last step and the test IoU of the final weights:

- ``fp32`` (contiguous memory format), ``fp32 + channels_last``, and ``bf16 + channels_last``
  (only with ``--bf16``: on a CPU without native bf16 it is emulated, many times slower);
- throughput of one job with every core versus one job per core running side by side
  (``--threads``), the choice between ``resources.train.threads: 2`` and ``1`` on 2 cores.

Each variant runs in a fresh process. ``--smoke``: 2 steps per variant, code path only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import cpu_model, table
from benchmarks.real_em import MIRROR, REPO, benchmark_config, serve

VARIANTS = {"fp32": {"channels_last": False, "cpu_precision": "fp32"},
            "fp32 + channels_last": {"channels_last": True, "cpu_precision": "fp32"},
            "bf16 + channels_last": {"channels_last": True, "cpu_precision": "bf16"}}


def _child(raw_json: str, variant: str, steps: int, threads: int) -> dict[str, Any]:
    """Train ``steps`` steps of one variant in this process; time, last loss, test IoU."""
    import torch

    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.inference.predict import cpu_bf16_native
    from vemtransfer.jobs.evaluation import evaluate_job
    from vemtransfer.jobs.training import train_job

    raw = json.loads(raw_json)
    raw["train"] |= VARIANTS[variant] | {"finetune": {"steps": steps}, "val_every": steps, "log_every": 1}
    out = Path(raw["results_dir"]) / "cpu_options" / variant.replace(" ", "_").replace("+", "") / f"t{threads}" / "model.pt"
    for stale in ("model.pt", "history.json", "checkpoint.pt"):
        (out.parent / stale).unlink(missing_ok=True)
    started = time.perf_counter()
    cfg, layout = validate_config(raw), Layout.of(raw)
    history = train_job(cfg, "NoPretrain", "FlyVNC-M", "f1", 1, layout.patch_index("FlyVNC-M"), out, None, threads)
    seconds = time.perf_counter() - started
    metrics = evaluate_job(cfg, "cpu_options", "FlyVNC-M", out, layout.prepared("FlyVNC-M", "test")[0], out.parent / "metrics.json", threads)
    return {"seconds": seconds, "val_seconds": history["seconds_validating"], "loss": history["loss"][-1][1],
            "test_iou": metrics["scores"]["iou_fg"], "bf16_native": cpu_bf16_native(), "threads": torch.get_num_threads()}


def _spawn(raw: dict[str, Any], variant: str, steps: int, threads: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "benchmarks.cpu_options", "--child", json.dumps(raw), variant, str(steps), str(threads)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _collect(proc: subprocess.Popen, what: str) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{what} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_options", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60, help="training steps per variant and round (default 60)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each runs every variant once, in turn (default 2)")
    parser.add_argument("--bf16", action="store_true", help="also run bf16 autocast (emulated, very slow, on CPUs without native bf16)")
    parser.add_argument("--threads", action="store_true", help="also compare 1 job x all cores with 1 job per core side by side")
    parser.add_argument("--workdir", type=Path, default=REPO / "results" / "benchmarks" / "real_em")
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--smoke", action="store_true", help="2 steps per variant, 2 validation crops")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        raw_json, variant, steps, threads = args.child
        print(json.dumps(_child(raw_json, variant, int(steps), int(threads))))
        return {}
    steps = 2 if args.smoke else args.steps
    cores = os.cpu_count() or 1
    with serve(args.mirror) as base_url:
        from benchmarks.real_em import _prepare
        from vemtransfer.config import validate_config

        raw = benchmark_config(base_url, args.workdir, "cpu", ["train.validation.crops=2"] if args.smoke else [])
        raw = dict(validate_config(raw).raw)
        _prepare(raw, "FlyVNC-M")
    variants = [v for v in VARIANTS if args.bf16 or not v.startswith("bf16")]
    rounds = 1 if args.smoke else args.rounds
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(rounds):  # variants in turn, so a slow spell of the machine hits every variant
        for v in variants:
            runs[v].append(_collect(_spawn(raw, v, steps, cores), v))
    results = {v: min(r, key=lambda x: x["seconds"]) for v, r in runs.items()}
    print(f"# CPU training options on FlyVNC-M ({steps} steps each, same seed, best of {rounds} rounds)" + (" (SMOKE)" if args.smoke else ""))
    print(f"host {cpu_model()}, nproc={cores}, native bf16: {next(iter(results.values()))['bf16_native']}\n")
    base = results["fp32"]
    rows = [[v, r["threads"], r["seconds"] / steps, " / ".join(f"{x['seconds'] / steps:.3f}" for x in runs[v]), base["seconds"] / r["seconds"],
             r["loss"], 100 * r["test_iou"]] for v, r in results.items()]
    print(table(["variant", "threads", "s/step (best)", "s/step each round", "speed vs fp32", f"loss at step {steps}", "test IoU %"], rows))
    if args.threads and cores > 1:
        started = time.perf_counter()
        together = [_spawn(raw, "fp32 + channels_last", steps, 1) for _ in range(cores)]
        side = [_collect(p, "1-thread job") for p in together]
        wall = time.perf_counter() - started
        one = results["fp32 + channels_last"]
        print()
        print(table(["how 2 jobs' steps are run", "steps per second (all jobs)", "ratio"], [
            [f"one job at a time, {cores} threads", 1 / (one["seconds"] / steps), 1.0],
            [f"{cores} jobs side by side, 1 thread each", cores * steps / wall, (cores * steps / wall) / (steps / one["seconds"])],
        ]))
        results["side_by_side"] = {"wall": wall, "runs": side}
    return results


if __name__ == "__main__":
    main()
