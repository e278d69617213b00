"""How long does a recommendation take for a lab's stack? Every stage of the "your own volume" flow, timed.

Why: README "Your own volume" tells a lab what to run, not how long it runs. A lab deciding
whether to start (and what to change to go faster) needs, for a stack of its own size on its
machine: the seconds of each stage, what each stage scales with, and which one dominates
a whole recommendation. This benchmark measures one instance of every stage and multiplies
by the number of jobs the workflow would run.

The stack: 30 sections of 1024 x 1024 uint8, as a lab exports it (a folder of image TIFFs and
a folder of 0/255 mitochondria PNGs), built from the real Drosophila VNC ssTEM sections of
``benchmarks.real_em`` (config/mini.yaml's pinned GitHub raw-file URLs, every file
sha256-checked; ``--mirror DIR`` serves a local copy such as ../shared/testdata instead):
sections 0-19 then 0-9 repeated to reach 30 sections: for timing only, not for accuracy
(the repeated sections fall in both the training and the test region, so the test IoU
printed means nothing). It is described as a ``local`` dataset (labels ``threshold: 128``,
voxel_nm [50, 4.6, 4.6]) with a task rescaled to 10 nm pixels like FlyVNC-M, ``recipe: cpu``.

Stages, each timed separately (wall clock, ``time.perf_counter``) through the package's own
functions (not Snakemake, so this stays cheap to maintain):

1. validate: ``load_config`` + ``config_checks.region_errors`` (``vemtransfer validate``);
2. prepare the task: ``prepare_task_job`` (CLAHE + rescale of every section, patch index);
3. fine-tune one model from random weights for the recipe's fine-tune length (``--steps``),
   validation included; pretraining costs the same per step (same windows and batch);
4. evaluate: score that model on the test region (``evaluate_job``);
5. prepare the whole volume for prediction (``prepare_volume_job``);
6. predict it to OME-Zarr (``volume.predict_to_zarr``) with the default engine (``auto``:
   OpenVINO on a CPU where installed) and with ``torch``, each engine's set-up
   (``runners.make_runner``: OpenVINO converts and compiles the model) timed on its own;
7. measure: ``measure_prediction`` (``vemtransfer.inference.morphometrics``: objects, volumes, surfaces).

It then estimates a whole recommendation from these figures and the job counts of
``vemtransfer.config.grid`` (as the workflow enumerates them) under the config's defaults: the
paper's sources (config/config.yaml), the schema's repeats and fractions, the recipe's steps;
and what changes that total. Results also go to ``--out`` (JSON) so README numbers can be traced.
``--smoke``: a small synthetic stack (or, with ``--mirror``, crops of a few VNC sections), a
tiny network and 4 steps: checks the code path in seconds, offline.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import importlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from benchmarks import real_em
from benchmarks._common import machine, table
from vemtransfer.config import NO_PRETRAIN, Config, Experiment, load_config, validate_config
from vemtransfer.data.datasets.store import IMAGE, MAIN, Sections, SectionStore, section_path

REPO = Path(__file__).resolve().parents[1]
TASK = "MyLab-M"
LABEL = "mito"
MINI = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
VOXEL_NM = list(MINI["datasets"]["fly_vnc"]["voxel_nm"])
"""The VNC's voxel (z, y, x nm): [50, 4.6, 4.6]."""
PIXEL_NM = MINI["tasks"]["FlyVNC-M"]["preprocess"]["voxel_yx_nm"]
"""Prepared y/x pixel (nm), FlyVNC-M's: 10."""
FULL = {"sections": 20, "repeat": 10, "crop": None}
"""Sections 0-19 then 0-9: 30 sections of 1024 x 1024."""
SMOKE = {"sections": 6, "repeat": 2, "crop": 320}
"""Sections 0-5 then 0-1 (8 sections) of 320 x 320."""
SMOKE_STEPS = 4
SMOKE_SETS = ("patches.size=[3, 64, 64]", "patches.stride=[3, 64, 64]", "model.widths=[4, 4, 8, 8, 16]", "train.batch_size=2",
              "train.val_every=2", "train.validation.crops=2", "train.validation.size=[3, 64, 64]")
"""A network and windows small enough for a smoke run to take seconds (not the recipe's: smoke figures mean nothing)."""
PER = {"volume": 1, "section": 1, "100 steps": 100, "model": 1, "Mvoxel": 1_000_000}
"""How many of a stage's counted items one rate unit is."""

T = TypeVar("T")


@dataclass(frozen=True)
class Stage:
    """One timed stage: ``count`` items (sections, steps, voxels) in ``seconds``, reported per ``unit``."""

    name: str
    what: str
    seconds: float
    count: float
    unit: str

    @property
    def per_unit(self) -> float:
        """Seconds per ``unit`` (e.g. per 100 steps, per Mvoxel): the rate that transfers to another stack size."""
        return self.seconds / (self.count / PER[self.unit])

    def record(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "per_unit": self.per_unit, "rate": f"s per {self.unit}"}


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall-clock seconds."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def vnc_sections(mirror: Path | None, download_dir: Path, count: int) -> Sections:
    """Sections 0..count-1 of the Drosophila VNC (image and mito, labels stored 0/1), fetched as
    ``benchmarks.real_em`` fetches them: its config, its local server for ``mirror``, the workflow's
    sha256-checked ``download_dataset``. Sections already downloaded into ``download_dir`` are reused."""
    from vemtransfer.core.layout import Layout
    from vemtransfer.jobs.download import download_dataset

    zs = list(range(count))
    with (real_em.serve(mirror) if mirror else contextlib.nullcontext(None)) as served:
        raw = real_em.benchmark_config(served or "unused", download_dir, "cpu", [])
        if served is None:  # benchmark_config points the URLs at a mirror; without one keep mini.yaml's pinned GitHub URL
            raw["datasets"]["fly_vnc"]["base_url"] = MINI["datasets"]["fly_vnc"]["base_url"]
        manifest = Path(Layout.of(raw).manifest("fly_vnc"))
        have = all(section_path(manifest.parent, MAIN, kind, z).exists() for kind in (IMAGE, LABEL) for z in zs)
        if not have:
            download_dataset(validate_config(raw), "fly_vnc", {MAIN: {IMAGE: zs, LABEL: zs}}, manifest)
    return SectionStore(manifest.parent)


def synthetic_sections(count: int, size: int) -> Sections:
    """A generated kidney volume with mitochondria labels: the smoke mode's offline stand-in for the VNC."""
    from vemtransfer.data.datasets.generated import generate

    return generate({"tissue": "kidney", "shape": [count, size, size], "seed": 3})


def write_lab_stack(sections: Sections, order: Sequence[int], out: Path, crop: int | None = None) -> tuple[Path, Path]:
    """Write ``sections`` in ``order`` as a lab's export: ``out/image/section_<i>.tif`` (uint8) and
    ``out/mito/section_<i>.png`` (0/255), numbered without zero padding as exporters often do
    (the reader sorts them naturally). ``crop``: keep the top-left crop x crop pixels. Returns the two folders."""
    import cv2
    import tifffile

    shutil.rmtree(out, ignore_errors=True)  # a folder volume is every file in it: no stale section may remain
    image_dir, label_dir = out / "image", out / LABEL
    image_dir.mkdir(parents=True)
    label_dir.mkdir()
    yx = (slice(0, crop), slice(0, crop))
    for i, z in enumerate(order):
        tifffile.imwrite(image_dir / f"section_{i}.tif", np.ascontiguousarray(sections.image(MAIN, z)[yx]))
        mask = np.where(sections.label(LABEL, MAIN, z)[yx] > 0, 255, 0).astype(np.uint8)
        if not cv2.imwrite(str(label_dir / f"section_{i}.png"), mask):
            raise OSError(f"could not write {label_dir / f'section_{i}.png'}")
    return image_dir, label_dir


def lab_config(image_dir: Path, label_dir: Path, n_sections: int, run_dir: Path, sets: Sequence[str] = ()) -> dict[str, Any]:
    """The config a lab would write for the stack (README "Your own volume"): a ``local`` dataset,
    one task rescaled to 10 nm pixels whose last fifth is the test region, ``recipe: cpu``,
    recommended and predicted. ``experiment.sources`` names the task itself only because the schema
    needs one source; the estimate puts the paper's sources in its place. ``sets``: ``KEY=VALUE`` overrides."""
    test = max(2, n_sections // 5)
    raw: dict[str, Any] = {
        "demo": False, "seed": MINI["seed"], "recipe": "cpu",
        "results_dir": str(run_dir / "results"), "resources_dir": str(run_dir / "resources"), "logs_dir": str(run_dir / "logs"),
        "datasets": {"my_lab": {"kind": "local", "image": str(image_dir), "labels": {LABEL: {"path": str(label_dir), "threshold": 128}},
                                "voxel_nm": list(VOXEL_NM)}},
        "tasks": {TASK: {"dataset": "my_lab", "label": LABEL, "train": {"z": [0, n_sections - test]},
                         "test": {"z": [n_sections - test, n_sections]}, "preprocess": {"voxel_yx_nm": PIXEL_NM}}},
        "experiment": {"sources": [TASK], "targets": []},
        "recommend": {"tasks": [TASK], "predict": True},
    }
    for assignment in sets:
        real_em._set(raw, assignment)
    return raw


def run_stages(config_file: Path, threads: int) -> tuple[list[Stage], dict[str, Any]]:
    """Run the flow once on the config in ``config_file``, timing each stage; returns the stages and facts the estimate needs."""
    import torch

    from vemtransfer.config.grid import fraction_budget
    from vemtransfer.core.device import pick_device
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.file_checks import region_errors, volume_header
    from vemtransfer.data.spacing import volume_spacing
    from vemtransfer.inference.runners import make_runner
    from vemtransfer.inference.volume import predict_to_zarr
    from vemtransfer.jobs.evaluation import evaluate_job
    from vemtransfer.jobs.measurement import measure_prediction
    from vemtransfer.jobs.preparation import prepare_task_job, prepare_volume_job
    from vemtransfer.jobs.training import train_job
    from vemtransfer.model.checkpoint import load_model

    stages: list[Stage] = []

    def validate() -> tuple[Config, list[str]]:
        cfg = load_config(config_file)
        return cfg, region_errors(cfg)

    (cfg, errors), seconds = timed(validate)
    if errors:
        raise SystemExit(f"{config_file}: invalid config:\n  " + "\n  ".join(errors))
    spec = cfg.raw["datasets"]["my_lab"]
    (n, *raw_yx), _ = volume_header(spec["image"])
    stages.append(Stage("validate", f"config; headers of the {n}-section image and label folders, label section 0", seconds, 1, "volume"))

    layout = Layout.of(cfg.raw)
    index = layout.patch_index(TASK)
    summary, seconds = timed(lambda: prepare_task_job(cfg, TASK, None, index))
    prepared_yx = summary["preprocess"]["resize_yx"]
    stages.append(Stage("prepare task", f"{n} sections {raw_yx[0]}x{raw_yx[1]} -> {prepared_yx[0]}x{prepared_yx[1]} (rescale, CLAHE), "
                        f"{len(summary['origins'])} label cells", seconds, n, "section"))

    budget = fraction_budget(max(cfg.experiment.fractions))
    model_id = f"finetune/{NO_PRETRAIN}__{TASK}/{budget}/rep1"
    model_file = Path(layout.model(model_id))
    for stale in ("model.pt", "history.json", "checkpoint.pt"):  # a checkpoint would resume, and a resumed run is no timing
        (model_file.parent / stale).unlink(missing_ok=True)
    history, seconds = timed(lambda: train_job(cfg, NO_PRETRAIN, TASK, budget, 1, index, model_file, None, threads))
    train = cfg.train_config("finetune")
    steps = history["steps_done"]
    stages.append(Stage("fine-tune", f"{steps} steps, batch {train.batch_size} x {list(cfg.patch_size)}, from random weights; "
                        f"{history['seconds_validating']:.1f} s of it validating every {train.val_every} steps", seconds, steps, "100 steps"))

    test_image = layout.prepared(TASK, "test")[0]
    metrics, seconds = timed(lambda: evaluate_job(cfg, model_id, TASK, model_file, test_image, layout.metrics(model_id), threads))
    shape = metrics["test_shape"]
    stages.append(Stage("evaluate", f"test region {'x'.join(map(str, shape))} (IoU {metrics['scores']['iou_fg']:.3f}: meaningless here)",
                        seconds, math.prod(shape), "Mvoxel"))

    volume_npy, volume_json = layout.volume_image(TASK), layout.volume_info(TASK)
    info, seconds = timed(lambda: prepare_volume_job(cfg, TASK, None, volume_npy, volume_json))
    stages.append(Stage("prepare volume", f"all {info['sections']} sections, rescaled and enhanced", seconds, info["sections"], "section"))

    importlib.import_module("vemtransfer.inference.ome")  # the OME-Zarr writer's imports (zarr): not the first engine's cost
    image = np.load(volume_npy, mmap_mode="r")
    voxels = math.prod(image.shape)
    device, pred, ev = pick_device(), cfg.section("prediction"), cfg.evaluation
    stores = {}
    for engine in ("auto", "torch"):
        model = load_model(model_file)
        runner, seconds = timed(lambda: make_runner(engine, model, device, cfg.patch_size, cfg.section("train")["amp"], threads))
        setup = "model on the device" if runner.description.startswith("torch") else "model converted and compiled"
        stages.append(Stage(f"predict set-up ({engine})", f"{runner.description}: {setup}", seconds, 1, "model"))
        stores[engine] = Path(layout.recommend(TASK, f"prediction-{engine}.zarr"))
        done, seconds = timed(lambda: predict_to_zarr(runner, image, stores[engine], cfg.patch_size, pred["chunk"], ev.overlap, ev.batch_size,
                                                      ev.threshold, pred["block"], volume_spacing(volume_json), {"model": str(model_file)},
                                                      progress=False))
        stages.append(Stage(f"predict ({engine})", f"{'x'.join(map(str, image.shape))} into OME-Zarr, {done['windows']} windows, {runner.description}",
                            seconds, voxels, "Mvoxel"))
    torch.set_num_threads(threads)  # as the workflow's measure job would run

    out = stores["auto"].parent
    measured, seconds = timed(lambda: measure_prediction(stores["auto"], out / "morphometrics.csv", out / "morphometrics.json",
                                                          out / "size_distribution.png"))
    stages.append(Stage("measure", f"{measured['count']} objects in the {'x'.join(map(str, image.shape))} mask", seconds, voxels, "Mvoxel"))
    facts = {"sections": n, "raw_yx": raw_yx, "prepared_shape": list(image.shape), "prepared_voxel_nm": info["voxel_nm"],
             "has_test": cfg.tasks[TASK].test is not None, "device": str(device)}
    return stages, facts


def paper_sources() -> tuple[str, ...]:
    """The pretraining sources a lab keeps in ``experiment.sources`` (README): the paper's, from config/config.yaml."""
    return tuple(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiment"]["sources"])


@dataclass(frozen=True)
class Jobs:
    """How many of each job one recommendation runs, counted by ``vemtransfer.config.grid`` as the workflow does."""

    pretrain: int
    finetune: int
    scored: int
    """Models scored on the test region: the ones the recommendation may choose (every source, largest fraction)."""

    @classmethod
    def of(cls, exp: Experiment, task: str, has_test: bool) -> Jobs:
        from vemtransfer.config.grid import fraction_budget, pretrain_runs, recommend_runs

        runs = recommend_runs(exp, task)
        top = fraction_budget(max(exp.fractions))
        return cls(len(pretrain_runs(exp)), len(runs), sum(r.budget == top for r in runs) if has_test else 0)


def recommendation_cost(stages: Sequence[Stage], jobs: Jobs, steps: dict[str, int], pretrain: bool = True,
                        voxel_scale: float = 1.0) -> dict[str, float]:
    """Seconds of each part of a recommendation from the stages measured once.

    Training costs the measured seconds per step (validation and job set-up included) times the
    steps of every job; ``pretrain`` False: the sources' models are imported (``pretrained:``).
    ``voxel_scale`` multiplies the stages that work on prepared voxels (evaluate, predict, measure);
    a training step does not change with the pixel size (the window is fixed) and preparing reads
    the raw sections whatever the pixel size."""
    t = {s.name: s for s in stages}
    per_step = t["fine-tune"].seconds / t["fine-tune"].count
    return {
        "validate + prepare task": t["validate"].seconds + t["prepare task"].seconds,
        "pretraining": jobs.pretrain * steps["pretrain"] * per_step if pretrain else 0.0,
        "fine-tuning": jobs.finetune * steps["finetune"] * per_step,
        "scoring candidates on test": jobs.scored * t["evaluate"].seconds * voxel_scale,
        "prepare volume + predict (auto) + measure": t["prepare volume"].seconds
        + (t["predict set-up (auto)"].seconds + t["predict (auto)"].seconds + t["measure"].seconds) * voxel_scale,
    }


def estimate(stages: Sequence[Stage], cfg: Config, has_test: bool, sources: Sequence[str]) -> dict[str, Any]:
    """The default recommendation's cost by part, and the totals under the changes a lab can make."""
    exp = dataclasses.replace(cfg.experiment, sources=tuple(sources))
    steps = {stage: cfg.train_config(stage).steps for stage in ("pretrain", "finetune")}
    if None in steps.values():
        raise SystemExit(f"the estimate needs fixed training lengths (train.<stage>.steps), got {steps}")
    jobs = Jobs.of(exp, TASK, has_test)
    parts = recommendation_cost(stages, jobs, steps)
    total = sum(parts.values())
    coarse = 2 * PIXEL_NM
    fewer_repeats = min(3, exp.recommend_repeats)
    two_fractions = (max(exp.fractions), min(exp.fractions))
    variants = {
        "as configured": parts,
        f"recommend.repeats: {fewer_repeats}": recommendation_cost(stages, Jobs.of(dataclasses.replace(exp, recommend_repeats=fewer_repeats), TASK, has_test), steps),
        f"experiment.fractions: {list(two_fractions)}": recommendation_cost(stages, Jobs.of(dataclasses.replace(exp, fractions=two_fractions), TASK, has_test), steps),
        "pretrained: (import the sources' models)": recommendation_cost(stages, jobs, steps, pretrain=False),
        f"voxel_yx_nm: {coarse} (not {PIXEL_NM})": recommendation_cost(stages, jobs, steps, voxel_scale=(PIXEL_NM / coarse) ** 2),
    }
    return {
        "sources": list(sources), "repeats": exp.repeats, "recommend_repeats": exp.recommend_repeats, "fractions": list(exp.fractions),
        "steps": steps, "jobs": dataclasses.asdict(jobs), "parts_s": parts, "total_s": total,
        "dominant": max(parts, key=parts.__getitem__), "variants_total_s": {k: sum(v.values()) for k, v in variants.items()},
    }


def _hours(seconds: float) -> str:
    """Seconds in the unit a person plans with."""
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 60 else f"{seconds:.3g} s"


def report(stages: Sequence[Stage], est: dict[str, Any], facts: dict[str, Any], threads: int, smoke: bool) -> None:
    """Print the stage table, the recommendation estimate and what changes it, as markdown."""
    import torch

    t = {s.name: s for s in stages}
    print("# Sizing: the \"your own volume\" flow" + (" (SMOKE: tiny network and stack, figures mean nothing)" if smoke else ""))
    print(f"{machine(torch.device(facts['device']))}; {threads} threads; load average {facts['load_average'][0]:.2f} before, "
          f"{facts['load_average'][1]:.2f} after (1 min; other work on the machine inflates every figure)\n")
    z, y, x = facts["prepared_shape"]
    print(f"Stack: {facts['sections']} sections {facts['raw_yx'][0]}x{facts['raw_yx'][1]} uint8 at {VOXEL_NM} nm, "
          f"prepared to {z}x{y}x{x} at {[round(v, 2) for v in facts['prepared_voxel_nm']]} nm"
          + (": sections 0-19 then 0-9 repeated to reach 30 sections: for timing only, not for accuracy.\n" if not smoke else ".\n"))
    print(table(["stage", "what it processed", "seconds", "rate", "unit"],
                [[s.name, s.what, round(s.seconds, 2), s.per_unit, f"s per {s.unit}"] for s in stages]))
    ratio = t["predict (torch)"].seconds / t["predict (auto)"].seconds
    with_setup = (t["predict (torch)"].seconds + t["predict set-up (torch)"].seconds) / (t["predict (auto)"].seconds + t["predict set-up (auto)"].seconds)
    print(f"\nPrediction with the default engine (auto) is {ratio:.3g}x as fast as torch on this volume "
          f"(set-up excluded; {with_setup:.3g}x with it).")
    per_step = t["fine-tune"].seconds / t["fine-tune"].count
    print(f"Training: {per_step:.3g} s per step here (validation included); pretraining a source costs the same per step "
          "(same windows, batch and network), on its own data.\n")

    jobs, steps = est["jobs"], est["steps"]
    print(f"## A whole recommendation on this machine, one job at a time ({threads} threads)\n")
    print(f"Sources: the paper's {len(est['sources'])} ({', '.join(est['sources'])}) + NoPretrain; experiment.repeats {est['repeats']}, "
          f"recommend.repeats {est['recommend_repeats']}, fractions {est['fractions']} (schema defaults); steps {steps} (recipe). "
          "Not included: downloading and preparing the sources' own data.\n")
    counts = {"validate + prepare task": "1", "pretraining": f"{jobs['pretrain']} x {steps['pretrain']} steps",
              "fine-tuning": f"{jobs['finetune']} x {steps['finetune']} steps", "scoring candidates on test": str(jobs["scored"]),
              "prepare volume + predict (auto) + measure": "1"}
    total = est["total_s"]
    print(table(["part", "jobs", "seconds", "time", "share %"],
                [[k, counts[k], round(v, 1), _hours(v), 100 * v / total] for k, v in est["parts_s"].items()]
                + [["total", "", round(total, 1), _hours(total), 100.0]]))
    print(f"\nDominant: {est['dominant']} ({100 * est['parts_s'][est['dominant']] / total:.3g} % of the total).\n")
    print("## What changes the total\n")
    print(table(["change (one at a time)", "total", "vs as configured"],
                [[k, _hours(v), v / total] for k, v in est["variants_total_s"].items()]))
    print("\n- Training time is steps x jobs: fewer `recommend.repeats` (wider intervals: the report says what it cannot resolve) and fewer "
          "`experiment.fractions` cut the fine-tunes in proportion; importing pretrained models (`pretrained:`) removes pretraining.")
    print(f"- A coarser `voxel_yx_nm` shrinks the prepared voxels by (old/new pixel)^2 (here {PIXEL_NM} -> {2 * PIXEL_NM} nm: a quarter), "
          "so evaluating, predicting and measuring; a training step costs the same (fixed window), it only sees more context.")
    print("- Several training jobs side by side with one thread each (`resources.train.threads: 1`, `snakemake --cores N`) may do more "
          "steps per second than one job with every thread (`python -m benchmarks.cpu_options --threads` measures it); not in this run.")
    if facts["device"].startswith("cuda"):
        print("- Training (and prediction with auto) ran on the GPU here: these are GPU figures.\n")
    else:
        print("- A GPU: not measured in this run (`benchmarks/README.md`, \"GPU figures\", has one).\n")
    print(f"sizing: total_hours={total / 3600:.3f} dominant={est['dominant'].replace(' ', '_')} "
          f"s_per_100_steps={t['fine-tune'].per_unit:.3f} predict_s_per_mvoxel={t['predict (auto)'].per_unit:.3f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sizing", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--mirror", type=Path, default=None,
                        help="local mirror of the raw files (e.g. ../shared/testdata); default: download from GitHub (sha256-checked)")
    parser.add_argument("--threads", type=int, default=None, help="torch/OpenVINO threads (default: every core)")
    parser.add_argument("--steps", type=int, default=None, help="fine-tune steps to time (default: the recipe's fine-tune length)")
    parser.add_argument("--workdir", type=Path, default=REPO / "results" / "benchmarks" / "sizing",
                        help="downloads, the stack, prepared data, models, predictions")
    parser.add_argument("--out", type=Path, default=None, help="results as JSON (default: <workdir>/sizing.json)")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE['sections'] + SMOKE['repeat']} small sections (synthetic unless --mirror), "
                        f"a tiny network, {SMOKE_STEPS} steps: checks the code path, offline")
    args = parser.parse_args(argv)
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    if args.mirror and not args.mirror.is_dir():
        raise SystemExit(f"the raw-file mirror {args.mirror} is absent")
    size = SMOKE if args.smoke else FULL
    workdir = args.workdir.resolve()
    if args.smoke and not args.mirror:
        sections = synthetic_sections(size["sections"], size["crop"])
    else:
        sections = vnc_sections(args.mirror.resolve() if args.mirror else None, workdir / "download", size["sections"])
    order = [*range(size["sections"]), *range(size["repeat"])]
    image_dir, label_dir = write_lab_stack(sections, order, workdir / "stack", size["crop"])

    run_dir = workdir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # every stage runs afresh: its time is the figure
    sets = SMOKE_SETS if args.smoke else ()
    raw = lab_config(image_dir, label_dir, len(order), run_dir, sets)
    estimate_cfg = validate_config(raw)  # the config as a lab runs it: the estimate's steps
    steps = SMOKE_STEPS if args.smoke else args.steps
    measured = copy.deepcopy(raw)
    if steps:
        real_em._set(measured, f"train.finetune.steps={steps}")
    config_file = workdir / "my_lab.yaml"
    config_file.write_text(yaml.safe_dump(measured, sort_keys=False))

    load_before = os.getloadavg()[0]
    stages, facts = run_stages(config_file, threads)
    facts["load_average"] = [load_before, os.getloadavg()[0]]
    est = estimate(stages, estimate_cfg, facts["has_test"], paper_sources())
    report(stages, est, facts, threads, args.smoke)
    result = {"machine": machine(torch.device(facts["device"])), "threads": threads, "smoke": args.smoke, "config": str(config_file), "stack": {
        "order": order, "source": "synthetic kidney" if args.smoke and not args.mirror else "Drosophila VNC (config/mini.yaml fly_vnc)",
        "note": "sections 0-19 then 0-9 repeated to reach 30 sections: for timing only, not for accuracy" if not args.smoke else "smoke",
        **facts}, "stages": [s.record() for s in stages], "estimate": est}
    out = args.out or workdir / "sizing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON: {out}")
    return result


if __name__ == "__main__":
    main()


def paper_grid_cost(pretrain_s_per_step: float, finetune_s_per_step: float, gpus: int = 1, model_mb: float = 5.8,
                    config: str | Path | None = None, out: Any = print) -> dict[str, Any]:
    """The whole paper grid's GPU-hours (and the models' disk) from measured seconds per step.

    Jobs are ``vemtransfer.config.grid``'s (``job_counts`` and the runs behind it) for ``config``
    (default config/config.yaml); each job's steps follow the config's training length
    (``train.<stage>``: epochs over the patches, or fixed steps) with the paper's Table 1 training
    patch counts (config/paper_results.yaml; ours differ by a few per cent). The seconds per step
    should include validation (``benchmarks.gpu_suite`` times jobs that validate as configured).
    ``gpus``: GPUs working side by side (``--resources gpu=N``; jobs are independent). Raw and
    prepared data are not counted here: they are per dataset, not per job (results/tables/table1.csv
    and the download sizes in README)."""
    from vemtransfer.config import load_config
    from vemtransfer.config.grid import all_runs, budget_size, fig2_runs, job_counts, pretrain_runs, table2_runs
    from vemtransfer.data.patches import planned_steps

    cfg = load_config(config or REPO / "config" / "config.yaml")
    exp = cfg.experiment
    patches = {t: v["train"] for t, v in yaml.safe_load((REPO / "config" / "paper_results.yaml").read_text())["table1"].items()}

    def steps(run: Any) -> int:
        stage = "pretrain" if run.is_pretrain else "finetune"
        return planned_steps(budget_size(run.budget, patches[run.target]), cfg.train_config(stage))

    def hours(runs: Any) -> dict[str, float]:
        runs = set(runs)
        pre = sum(steps(r) * pretrain_s_per_step for r in runs if r.is_pretrain)
        fine = sum(steps(r) * finetune_s_per_step for r in runs if not r.is_pretrain)
        return {"jobs": len(runs), "gpu_hours": (pre + fine) / 3600, "wall_hours": (pre + fine) / 3600 / gpus,
                "models_gb": len(runs) * model_mb / 1024}

    pre = pretrain_runs(exp)
    targets = {"pretraining (every target needs it)": pre, "Table 2 (fine-tunes + pretraining)": [*pre, *table2_runs(exp)],
               "Fig. 2 (fine-tunes + pretraining)": [*pre, *fig2_runs(exp)], "all (Table 2 + Fig. 2)": all_runs(exp)}
    result = {"counts": job_counts(exp), "gpus": gpus, "pretrain_s_per_step": pretrain_s_per_step,
              "finetune_s_per_step": finetune_s_per_step, "targets": {k: hours(v) for k, v in targets.items()}}
    out(f"# the paper grid at {pretrain_s_per_step:.3f} s/step (pretraining), {finetune_s_per_step:.3f} s/step (fine-tuning), {gpus} GPU(s)")
    out("| target | jobs | GPU-hours | wall hours | models GB |")
    out("|---|---|---|---|---|")
    for name, h in result["targets"].items():
        out(f"| {name} | {h['jobs']} | {h['gpu_hours']:.1f} | {h['wall_hours']:.1f} | {h['models_gb']:.2f} |")
    return result
