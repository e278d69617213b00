"""Does the CPU recipe learn real electron microscopy? Train it, score the whole test sections,
and compare with what a global intensity threshold and a random-forest pixel classifier get.

Why: a model that scores below "dark = mitochondrion", or below the ilastik-style pixel
classifier a lab would try first, has learned nothing a lab could use. This benchmark takes
the real sets of the local mirror ``../shared/testdata`` (the two URL-laid-out ones served on
127.0.0.1, so the real download, checksum and preprocessing code runs, as ``config/mini.yaml``
describes them; the converted ones read as a lab's local folders):

- ``FlyVNC-M``: Drosophila VNC ssTEM mitochondria, sections 0-14 train (the validation
  split carved from them), 15-19 test, rescaled to 10 nm pixels;
- ``FlyL1-M``: Drosophila L1 ssTEM (ISBI 2012) mitochondria, sections 0-23 train (the last
  15 % of them, along z, validation), 24-29 test (the original split), rescaled to 10 nm;
- ``HeLa-M``: HeLa SBF-SEM mitochondria, five isolated 2000^2 sections (about 10 nm), a
  local dataset whose ``volumes`` are one section each: the first three train, of which
  validation along z holds out the third whole (a y strip of these sections holds almost no
  mitochondria), the last two test. Only a planned network (``--plan``: a depth-1 window)
  trains on them; the recipe's 3-section window has no neighbours to read (``n/a``);
- ``FlyMedulla-N``: FlyEM medulla FIB-SEM neurite interiors, every 5th section.

``--plan`` trains with the task's plan applied (``plan.apply: true``: window, planar levels,
batch, sampling and validation crops from the prepared task's fingerprint; ``plan.json`` beside
the prepared data); without it, the recipe as it is.

``--methods`` picks among ``network``, ``threshold`` and ``rf`` (default all): ``--methods
threshold,rf`` measures the baselines without training a network. The pixel classifier
(:mod:`vemtransfer.baselines.pixel_classifier`) trains on the training split, chooses its
threshold on the validation crops the network's model selection uses, and is scored on the
same whole test split.

For each it trains one model from random weights with the config's recipe (``--recipe``,
default ``cpu``) on all training tiles through the workflow's own ``train_job`` (seed,
sampling, validation crops and model selection as in the workflow), evaluates the whole
test volume with ``evaluate_run``, and scores a global intensity threshold chosen on the
training split (polarity and level maximising training IoU), on the prepared image and
after a Gaussian blur (sigma 2 px). One machine-readable line per set (``n/a`` for a method
not run, with the reason in the table; the threshold figure is the better of raw and blurred):

    real_em: task=FlyVNC-M test_iou=<x> rf_iou=<y> threshold_iou=<z> train_minutes=<m> rf_minutes=<r> set_minutes=<s>

``--overlay PNG`` draws a test section with the prediction and ground-truth contours.
``--set KEY=VALUE`` overrides any config value (e.g. ``--set train.finetune.steps=600``)
for recipe experiments. ``--smoke``: a few steps of FlyVNC-M only, to check the code path.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks._common import machine, table
from vemtransfer.core.device import pick_device
from vemtransfer.inference.predict import training_precision

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "testdata"
TASKS = ("FlyVNC-M", "FlyL1-M", "HeLa-M", "FlyMedulla-N")
METHODS = ("network", "threshold", "rf")
L1 = Path("converted") / "drosophila_l1_sstem"
HELA = Path("converted") / "hela_sbem_mito"
HELA_SECTIONS = ("z0001", "z0030", "z0060", "z0116", "z0150")
HELA_TASK = {"HeLa-M": {"dataset": "hela", "label": "mito", "preprocess": {"voxel_yx_nm": 10}, "train": {"volumes": list(HELA_SECTIONS[:3])},
                        "test": {"volumes": list(HELA_SECTIONS[3:])}, "validation": {"axis": "z"}}}
"""Five isolated sections, each its own volume: validation along z holds out the last training section whole."""
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


L1_TASK = {"FlyL1-M": {"dataset": "fly_l1", "label": "mito", "preprocess": {"voxel_yx_nm": 10}, "train": {"z": [0, 24]},
                        "test": {"z": [24, 30]}, "validation": {"axis": "z"}}}
"""The ISBI-2012 split; validation along z (205^2 sections at 10 nm leave no room for a y strip and a patch)."""


def l1_dataset(mirror: Path) -> dict[str, Any]:
    """The L1 ssTEM PNG folders as a lab's local dataset (mitochondria: any grey value > 0)."""
    root = mirror / L1
    return {"fly_l1": {"kind": "local", "image": str(root / "images"), "labels": {"mito": {"path": str(root / "mitochondria"), "threshold": 1}},
                       "voxel_nm": [50, 4, 4]}}


def hela_dataset(mirror: Path) -> dict[str, Any]:
    """The HeLa PNG folders as a lab's local dataset whose volumes are its five isolated sections
    (the 0/255 masks binarised at 128; about 10 nm pixels, an assumption: the source does not say)."""
    root = mirror / HELA
    return {"hela": {"kind": "local", "image": str(root / "images"), "labels": {"mito": {"path": str(root / "mito"), "threshold": 128}},
                     "voxel_nm": [50, 10, 10], "volumes": {name: {"z": [i, i + 1]} for i, name in enumerate(HELA_SECTIONS)}}}


def benchmark_config(base_url: str, workdir: Path, recipe: str, overrides: Sequence[str], mirror: Path = MIRROR) -> dict[str, Any]:
    """config/mini.yaml's two real datasets and tasks, URLs on ``base_url``, plus the L1 ssTEM and HeLa
    sets as local datasets of ``mirror``; outputs under ``workdir``, trained with ``recipe`` (mini's own
    network and training keys dropped so the recipe applies)."""
    mini = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    datasets = {name: dict(mini["datasets"][name]) for name in ("fly_vnc", "fly_medulla")}
    for spec in datasets.values():
        spec["base_url"] = spec["base_url"].replace("https://", f"{base_url}/", 1)
        spec["sha256sums"] = str(REPO / spec["sha256sums"])
    raw = {
        "demo": False, "seed": mini["seed"], "recipe": recipe,
        "results_dir": str(workdir / "results"), "resources_dir": str(workdir / "resources"), "logs_dir": str(workdir / "logs"),
        "datasets": {**datasets, **l1_dataset(mirror), **hela_dataset(mirror)},
        "tasks": {**{t: mini["tasks"][t] for t in ("FlyVNC-M", "FlyMedulla-N")}, **L1_TASK, **HELA_TASK},
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
    manifest = None if raw["datasets"][dataset]["kind"] == "local" else Path(layout.manifest(dataset))  # local: read in place
    if manifest is not None and not manifest.exists():
        download_dataset(cfg, dataset, needed_sections(cfg, dataset), manifest)
    prepare_task_job(cfg, task, manifest, layout.patch_index(task))


def network_scores(raw: dict[str, Any], task: str, threads: int) -> dict[str, Any]:
    """Train (NoPretrain, all tiles) and evaluate the network of one prepared task: its part of a row.
    With ``plan.apply`` in ``raw`` the task is planned first (``plan.json``) and trained with the plan."""
    import torch

    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.jobs.evaluation import evaluate_job
    from vemtransfer.jobs.training import train_job
    from vemtransfer.model.checkpoint import load_model, read_model_file
    from vemtransfer.model.network import count_parameters

    cfg, layout, model_id = validate_config(raw), Layout.of(raw), f"finetune/NoPretrain__{task}/f1/rep1"
    plan = Path(layout.plan(task))
    out = Path(layout.model(model_id)).parent
    for stale in ("model.pt", "history.json", "checkpoint.pt"):
        (out / stale).unlink(missing_ok=True)  # every run trains afresh: its time is the figure
    started = time.perf_counter()
    history = train_job(cfg, "NoPretrain", task, "f1", 1, layout.patch_index(task), out / "model.pt", None, threads, plan)
    train_seconds = time.perf_counter() - started
    metrics = evaluate_job(cfg, model_id, task, out / "model.pt", layout.prepared(task, "test")[0], layout.metrics(model_id), threads)
    torch.set_num_threads(threads)
    meta = read_model_file(out / "model.pt")
    return {
        "steps": history["steps_done"], "train_s": train_seconds, "val_s": history["seconds_validating"],
        "params": count_parameters(load_model(out / "model.pt")), "best_step": history["best_step"],
        "val_iou": history["best_val_iou_fg"], "test": metrics["scores"], "model": out / "model.pt",
        "window": meta["patch_size"], "planar_levels": meta["planar_levels"], "planned": bool(raw["plan"]["apply"]),
    }


def rf_scores(raw: dict[str, Any], task: str, splits: tuple[Any, Any, Any], settings: Any) -> dict[str, Any]:
    """The pixel classifier on one set's splits: threshold chosen on the network's validation crops
    (the plan's when it is applied), scored on the whole test split."""
    from vemtransfer.baselines.pixel_classifier import fit_and_predict
    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.jobs.pixel_classifier_baseline import validation_regions
    from vemtransfer.model.metrics import confusion, scores
    from vemtransfer.planning.plan import apply_plan, read_plan

    train, val, test = splits
    cfg = apply_plan(validate_config(raw), read_plan(Layout.of(raw).plan(task)))
    crops, size = validation_regions(cfg, task, val)
    started = time.perf_counter()
    run = fit_and_predict((train.image, train.label), test.image, settings, (val.image, val.label), crops, size)
    return {"seconds": time.perf_counter() - started, "threshold": run.threshold, "val_iou": run.val_iou, "train_pixels": run.train_pixels,
            **scores(confusion(run.test_prob > run.threshold, np.asarray(test.label)))}


def no_network(raw: dict[str, Any], train_blocks: Sequence[int]) -> str | None:
    """Why the network cannot train on a task (None: it can): without a plan, the recipe's window
    is deeper than every training volume (isolated sections)."""
    depth = raw["patches"]["size"][0]
    if raw["plan"]["apply"] or max(train_blocks) >= depth:
        return None
    return f"isolated sections (training volumes {list(train_blocks)} deep): the recipe's window is {depth} deep; --plan trains a depth-1 window"


def run_task(raw: dict[str, Any], task: str, threads: int, methods: Sequence[str] = METHODS, rf_settings: Any = None) -> dict[str, Any]:
    """Prepare one set, then train and evaluate the network, threshold it and run the pixel classifier
    (each as ``methods`` asks); a row of the table with every method's seconds."""
    from vemtransfer.baselines.pixel_classifier import ForestSettings
    from vemtransfer.config import validate_config
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.splits import load_split
    from vemtransfer.jobs.planning import plan_task_job

    started = time.perf_counter()
    row: dict[str, Any] = {"task": task, "network": None, "rf": None, "thresholds": None, "why_no_network": None}
    _prepare(raw, task)
    layout = Layout.of(raw)
    plan_task_job(validate_config(raw), task, layout.patch_index(task), layout.plan(task))  # every method reads it: the crops, the window
    folder = Path(layout.prepared_dir(task))
    splits = tuple(load_split(folder, s) for s in ("train", "val", "test"))
    train, _, test = splits
    if "network" in methods:
        row["why_no_network"] = no_network(raw, list(train.blocks or [len(train.image)]))
        if row["why_no_network"] is None:
            row["network"] = network_scores(raw, task, threads)
    if "threshold" in methods:
        t0 = time.perf_counter()
        row["thresholds"] = {sigma: threshold_scores(train.image, train.label, test.image, test.label, sigma) for sigma in (0.0, BLUR_SIGMA)}
        row["threshold_s"] = time.perf_counter() - t0
    if "rf" in methods:
        row["rf"] = rf_scores(raw, task, splits, rf_settings or ForestSettings(threads=threads))
    row["set_s"] = time.perf_counter() - started
    row["shape"] = {"train": list(train.image.shape), "test": list(test.image.shape)}
    return row


def _draw_overlay(raw: dict[str, Any], row: dict[str, Any], out: Path) -> None:
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.splits import load_split
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


def _methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"--methods takes a comma-separated subset of {','.join(METHODS)}, got {value!r}")
    return methods


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    body = []
    for r in rows:
        n = r["network"]
        if n is not None:
            s = n["test"]
            what = f"model ({'planned' if n['planned'] else 'recipe'}: window {'x'.join(map(str, n['window']))}, planar_levels {n['planar_levels']})"
            body.append([r["task"], what, n["steps"], round(n["train_s"], 1), round(100 * n["val_s"] / max(n["train_s"], 1e-9), 1),
                         n["params"], 100 * n["val_iou"], 100 * s["iou_fg"], s["precision"], s["recall"]])
        elif r["why_no_network"]:
            body.append([r["task"], f"model: n/a ({r['why_no_network']})", "", "", "", "", "", "", "", ""])
        f = r["rf"]
        if f is not None:
            body.append([r["task"], f"pixel classifier (100 trees, {f['train_pixels']} px, cut {f['threshold']:.3f})", "", round(f["seconds"], 1), "", "",
                         "" if f["val_iou"] is None else 100 * f["val_iou"], 100 * f["iou_fg"], f["precision"], f["recall"]])
        for sigma, t in (r["thresholds"] or {}).items():
            what = f"threshold ({'dark' if t['dark'] else 'bright'} < {t['level']:.1f})" + (f", blur {sigma:g} px" if sigma else "")
            body.append([r["task"], what, "", "", "", "", "", 100 * t["iou_fg"], t["precision"], t["recall"]])
    return body


def summary_line(r: dict[str, Any]) -> str:
    """The machine-readable line of one set (``n/a`` for a method not run)."""
    n, f, t = r["network"], r["rf"], r["thresholds"]
    return (f"real_em: task={r['task']} test_iou={_fmt(n and n['test']['iou_fg'])} rf_iou={_fmt(f and f['iou_fg'])} "
            f"threshold_iou={_fmt(t and max(x['iou_fg'] for x in t.values()))} train_minutes={_fmt(n and n['train_s'] / 60, 2)} "
            f"rf_minutes={_fmt(f and f['seconds'] / 60, 2)} set_minutes={r['set_s'] / 60:.2f}")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_em", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="sets to run (default all four)")
    parser.add_argument("--methods", type=_methods, default=list(METHODS), help="comma-separated: network,threshold,rf (default all)")
    parser.add_argument("--recipe", default="cpu", help="the config recipe to train with (default cpu)")
    parser.add_argument("--plan", action="store_true", help="train with each task's plan applied (plan.apply: true)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    parser.add_argument("--workdir", type=Path, default=REPO / "results" / "benchmarks" / "real_em", help="downloads, prepared data, models")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="the local mirror of the raw files (default ../shared/testdata)")
    parser.add_argument("--overlay", type=Path, default=None, help="write a FlyVNC-M test-section overlay PNG here")
    parser.add_argument("--smoke", action="store_true", help="FlyVNC-M, 2 steps, 2 validation crops, a 10-tree forest: checks the code path only")
    args = parser.parse_args(argv)
    import os

    import torch

    from vemtransfer.baselines.pixel_classifier import ForestSettings

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    overrides = list(args.set) + (["plan.apply=true"] if args.plan else [])
    tasks = args.tasks
    rf_settings = ForestSettings(threads=threads)
    if args.smoke:
        tasks = ["FlyVNC-M"]
        overrides += ["train.finetune.steps=2", "train.val_every=1", "train.validation.crops=2"]
        rf_settings = ForestSettings(trees=10, samples=5000, threads=threads)
    if not args.mirror.is_dir():
        raise SystemExit(f"the raw-file mirror {args.mirror} is absent (it holds ../shared/testdata's files)")
    rows = []
    with serve(args.mirror) as base_url:
        raw = benchmark_config(base_url, args.workdir, args.recipe, overrides, args.mirror)
        from vemtransfer.config import validate_config

        raw = dict(validate_config(raw).raw)  # recipe and defaults filled in, for printing and the overlay
        for task in tasks:
            rows.append(run_task(raw, task, threads, args.methods, rf_settings))
            print(f"done: {summary_line(rows[-1])}", file=sys.stderr, flush=True)  # progress: a long run's sets one by one
    print(f"# Real EM: {args.recipe} recipe{', planned per task' if args.plan else ''}, methods {','.join(args.methods)}" + (" (SMOKE: 2 steps)" if args.smoke else ""))
    device = pick_device()
    print(machine(device) + "\n")  # where training ran: the workflow trains on CUDA when present
    t = raw["train"]
    used = training_precision(device, t["amp"], t["cpu_precision"], t["cuda_precision"])  # what ran, not only what was asked
    print(f"network widths {raw['model']['widths']}, planar_levels {raw['model']['planar_levels']}, patch {raw['patches']['size']}, "
          f"batch {raw['train']['batch_size']}, {raw['train']['sampling']} sampling (foreground {raw['train']['foreground_fraction']}), "
          f"channels_last {raw['train']['channels_last']}, precision {used} (cpu_precision: {t['cpu_precision']}); "
          f"pixel classifier: {rf_settings.trees} trees, up to {rf_settings.samples} balanced training pixels, sigmas {list(rf_settings.sigmas)}\n")
    print(table(["task", "method", "steps", "train s", "val % of train", "params", "val IoU %", "test IoU %", "precision", "recall"], _table_rows(rows)))
    with_model = [r for r in rows if r["task"] == "FlyVNC-M" and r["network"]]
    if args.overlay and with_model:
        _draw_overlay(raw, {"task": "FlyVNC-M", **with_model[0]["network"]}, args.overlay)
        print(f"\noverlay: {args.overlay}")
    print()
    for r in rows:
        print(summary_line(r))
    return rows


if __name__ == "__main__":
    main()
