"""Does the CPU recipe learn real electron microscopy? Train it, score the whole test sections,
and compare with what a global intensity threshold gets.

Why: a model that scores below "dark = mitochondrion" has learned nothing a lab could use.
This benchmark takes two small public volumes from the local mirror ``../shared/testdata``
(served on 127.0.0.1, so the real download, checksum and preprocessing code runs), exactly
as ``config/mini.yaml`` describes them:

- ``FlyVNC-M``: Drosophila VNC ssTEM mitochondria, sections 0-14 train (the validation
  split carved from them), 15-19 test, rescaled to 10 nm pixels;
- ``FlyMedulla-N``: FlyEM medulla FIB-SEM neurite interiors, every 5th section.

For each it trains one model from random weights with the config's recipe (``--recipe``,
default ``cpu``) on all training tiles through the workflow's own ``train_job`` (seed,
sampling, validation crops and model selection as in the workflow), evaluates the whole
test volume with ``evaluate_run``, and scores a global intensity threshold chosen on the
training split (polarity and level maximising training IoU), on the prepared image and
after a Gaussian blur (sigma 2 px). The last line is machine-readable:

    real_em: task=FlyVNC-M test_iou=<x> threshold_iou=<y> train_minutes=<z>

``--overlay PNG`` draws a test section with the prediction and ground-truth contours.
``--set KEY=VALUE`` overrides any config value (e.g. ``--set train.finetune.steps=600``)
for recipe experiments. ``--smoke``: a few steps of FlyVNC-M only, to check the code path.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks._common import machine, table
from vemtransfer.core.device import pick_device

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "testdata"
TASKS = ("FlyVNC-M", "FlyMedulla-N")
BLUR_SIGMA = 2.0


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """``root`` over HTTP on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # no request lines on stderr
        pass


def _set(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=VALUE`` (VALUE parsed as YAML) to the nested config ``raw``."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"--set expects KEY=VALUE, got {assignment!r}")
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(value)


def benchmark_config(base_url: str, workdir: Path, recipe: str, overrides: Sequence[str]) -> dict[str, Any]:
    """config/mini.yaml's two real datasets and tasks, URLs on ``base_url``, outputs under ``workdir``,
    trained with ``recipe`` (mini's own network and training keys dropped so the recipe applies)."""
    mini = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    datasets = {name: dict(mini["datasets"][name]) for name in ("fly_vnc", "fly_medulla")}
    for spec in datasets.values():
        spec["base_url"] = spec["base_url"].replace("https://", f"{base_url}/", 1)
        spec["sha256sums"] = str(REPO / spec["sha256sums"])
    raw = {
        "demo": False, "seed": mini["seed"], "recipe": recipe,
        "results_dir": str(workdir / "results"), "resources_dir": str(workdir / "resources"), "logs_dir": str(workdir / "logs"),
        "datasets": datasets, "tasks": {t: mini["tasks"][t] for t in TASKS},
        "experiment": {"repeats": 1, "sources": ["FlyMedulla-N"], "targets": ["FlyVNC-M"], "fractions": [1.0]},
    }
    for assignment in overrides:
        _set(raw, assignment)
    return raw


def threshold_scores(train_image: np.ndarray, train_label: np.ndarray, test_image: np.ndarray, test_label: np.ndarray,
                     sigma: float) -> dict[str, Any]:
    """Scores on the test split of the best global threshold on the training split (both polarities).

    Every level 0..255 is tried on the (optionally blurred per section) training image; the
    level and polarity with the highest training foreground IoU are applied to the test image.
    """
    from scipy import ndimage

    from vemtransfer.model.metrics import confusion, scores

    def prep(image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, np.float32)
        return ndimage.gaussian_filter(image, (0, sigma, sigma)) if sigma else image

    train, test = prep(train_image), prep(test_image)
    scored = (train_label == 0) | (train_label == 1)
    values, fg = train[scored], train_label[scored] == 1
    order = np.argsort(values, kind="stable")
    below_fg = np.concatenate([[0], np.cumsum(fg[order])])  # foreground voxels at or below each cut
    cuts = np.searchsorted(values[order], np.arange(257) - 0.5)
    n_fg, n = fg.sum(), len(values)
    best = (-1.0, 0.0, True)
    for level, k in zip(np.arange(257) - 0.5, cuts):
        for dark in (True, False):  # foreground = below the level, or above it
            tp = below_fg[k] if dark else n_fg - below_fg[k]
            predicted = k if dark else n - k
            iou = tp / (predicted + n_fg - tp) if predicted + n_fg - tp else 0.0
            best = max(best, (iou, float(level), dark))
    _, level, dark = best
    pred = test < level if dark else test > level
    return {"level": level, "dark": dark, "train_iou": best[0], **scores(confusion(pred, np.asarray(test_label)))}


def overlay(image: np.ndarray, label: np.ndarray, pred: np.ndarray, title: str, out: Path) -> None:
    """One section with the ground truth (green) and prediction (magenta) contours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vemtransfer.core.storage import atomic_path

    fig, ax = plt.subplots(figsize=(6, 6.3))
    ax.imshow(image, cmap="gray", interpolation="none")
    ax.contour(label == 1, levels=[0.5], colors=["lime"], linewidths=1.0)
    ax.contour(pred, levels=[0.5], colors=["magenta"], linewidths=1.0)
    ax.set_title(title, fontsize=8)
    ax.plot([], [], color="lime", label="ground truth")
    ax.plot([], [], color="magenta", label="prediction")
    ax.legend(loc="lower right", fontsize=7)
    ax.axis("off")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _prepare(raw: dict[str, Any], task: str) -> None:
    """Download (from the mirror) and prepare ``task`` unless already done, with the workflow's functions."""
    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.datasets import needed_sections
    from vemtransfer.jobs.download import download_dataset
    from vemtransfer.jobs.preparation import prepare_task_job

    cfg, layout = validate_config(raw), Layout.of(raw)
    dataset = raw["tasks"][task]["dataset"]
    manifest = Path(layout.manifest(dataset))
    if not manifest.exists():
        download_dataset(cfg, dataset, needed_sections(cfg, dataset), manifest)
    prepare_task_job(cfg, task, manifest, layout.patch_index(task))


def run_task(raw: dict[str, Any], task: str, threads: int) -> dict[str, Any]:
    """Prepare, train (NoPretrain, all tiles), evaluate and threshold one task; a row of the table."""
    import torch

    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.patches import load_split
    from vemtransfer.jobs.evaluation import evaluate_job
    from vemtransfer.jobs.training import train_job
    from vemtransfer.model.checkpoint import load_model
    from vemtransfer.model.network import count_parameters

    _prepare(raw, task)
    cfg, layout, model_id = validate_config(raw), Layout.of(raw), f"finetune/NoPretrain__{task}/f1/rep1"
    out = Path(layout.model(model_id)).parent
    for stale in ("model.pt", "history.json", "checkpoint.pt"):
        (out / stale).unlink(missing_ok=True)  # every run trains afresh: its time is the figure
    started = time.perf_counter()
    history = train_job(cfg, "NoPretrain", task, "f1", 1, layout.patch_index(task), out / "model.pt", None, threads)
    train_seconds = time.perf_counter() - started
    metrics = evaluate_job(cfg, model_id, task, out / "model.pt", layout.prepared(task, "test")[0], layout.metrics(model_id), threads)
    folder = Path(layout.prepared_dir(task))
    train, test = load_split(folder, "train"), load_split(folder, "test")
    thresholds = {sigma: threshold_scores(train.image, train.label, test.image, test.label, sigma) for sigma in (0.0, BLUR_SIGMA)}
    torch.set_num_threads(threads)
    return {
        "task": task, "steps": history["steps_done"], "train_s": train_seconds, "val_s": history["seconds_validating"],
        "params": count_parameters(load_model(out / "model.pt")), "best_step": history["best_step"],
        "val_iou": history["best_val_iou_fg"], "test": metrics["scores"], "thresholds": thresholds, "model": out / "model.pt",
    }


def _draw_overlay(raw: dict[str, Any], row: dict[str, Any], out: Path) -> None:
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.patches import load_split
    from vemtransfer.inference.predict import predict_volume
    from vemtransfer.model.checkpoint import load_model

    cfg_eval, channels_last = raw.get("evaluation", {}), raw["train"]["channels_last"]
    test = load_split(Layout.of(raw).prepared_dir(row["task"]), "test")
    prob = predict_volume(load_model(row["model"]), test.image, tuple(raw["patches"]["size"]), cfg_eval.get("overlap", 0.5),
                          cfg_eval.get("batch_size", 4), "cpu", False, channels_last)
    z = len(test.image) // 2
    s, first = row["test"], raw["tasks"][row["task"]]["test"]["z"][0]
    title = (f"{row['task']}: test section {first + z} (unseen), prediction (magenta) and ground truth (green)\n"
             f"whole test volume: IoU {100 * s['iou_fg']:.1f} %, precision {s['precision']:.2f}, recall {s['recall']:.2f}\n"
             f"{row['steps']} steps from random weights, {row['train_s'] / 60:.1f} min on this CPU")
    overlay(np.asarray(test.image[z]), np.asarray(test.label[z]), prob[z] > 0.5, title, out)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_em", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to train (default both)")
    parser.add_argument("--recipe", default="cpu", help="the config recipe to train with (default cpu)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    parser.add_argument("--workdir", type=Path, default=REPO / "results" / "benchmarks" / "real_em", help="downloads, prepared data, models")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="the local mirror of the raw files (default ../shared/testdata)")
    parser.add_argument("--overlay", type=Path, default=None, help="write a FlyVNC-M test-section overlay PNG here")
    parser.add_argument("--smoke", action="store_true", help="FlyVNC-M, 2 steps, 2 validation crops: checks the code path only")
    args = parser.parse_args(argv)
    import os

    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    overrides = list(args.set)
    tasks = args.tasks
    if args.smoke:
        tasks = ["FlyVNC-M"]
        overrides += ["train.finetune.steps=2", "train.val_every=1", "train.validation.crops=2"]
    if not args.mirror.is_dir():
        raise SystemExit(f"the raw-file mirror {args.mirror} is absent (it holds ../shared/testdata's files)")
    rows = []
    with serve(args.mirror) as base_url:
        raw = benchmark_config(base_url, args.workdir, args.recipe, overrides)
        from vemtransfer.config import validate_config

        raw = dict(validate_config(raw).raw)  # recipe and defaults filled in, for printing and the overlay
        for task in tasks:
            rows.append(run_task(raw, task, threads))
    print(f"# Real EM: {args.recipe} recipe" + (" (SMOKE: 2 steps)" if args.smoke else ""))
    print(machine(pick_device()) + "\n")  # where training ran: the workflow trains on CUDA when present
    print(f"network widths {raw['model']['widths']}, planar_levels {raw['model']['planar_levels']}, patch {raw['patches']['size']}, "
          f"batch {raw['train']['batch_size']}, {raw['train']['sampling']} sampling (foreground {raw['train']['foreground_fraction']}), "
          f"channels_last {raw['train']['channels_last']}, cpu_precision {raw['train']['cpu_precision']}\n")
    body = []
    for r in rows:
        s = r["test"]
        body.append([r["task"], "model (NoPretrain, all tiles)", r["steps"], round(r["train_s"], 1), round(100 * r["val_s"] / max(r["train_s"], 1e-9), 1),
                     r["params"], 100 * r["val_iou"], 100 * s["iou_fg"], s["precision"], s["recall"]])
        for sigma, t in r["thresholds"].items():
            what = f"threshold ({'dark' if t['dark'] else 'bright'} < {t['level']:.1f})" + (f", blur {sigma:g} px" if sigma else "")
            body.append([r["task"], what, "", "", "", "", "", 100 * t["iou_fg"], t["precision"], t["recall"]])
    print(table(["task", "method", "steps", "train s", "val % of train", "params", "val IoU %", "test IoU %", "precision", "recall"], body))
    if args.overlay and any(r["task"] == "FlyVNC-M" for r in rows):
        _draw_overlay(raw, next(r for r in rows if r["task"] == "FlyVNC-M"), args.overlay)
        print(f"\noverlay: {args.overlay}")
    print()
    for r in rows:
        best_threshold = max(t["iou_fg"] for t in r["thresholds"].values())
        print(f"real_em: task={r['task']} test_iou={r['test']['iou_fg']:.4f} threshold_iou={best_threshold:.4f} train_minutes={r['train_s'] / 60:.2f}")
    return rows


if __name__ == "__main__":
    main()
