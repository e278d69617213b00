"""``vemtransfer``: the workflow's steps from the command line, without Snakemake.

Each subcommand calls the same package function as the matching Snakemake rule, so a
single step can be rerun or debugged by hand with identical results.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from vemtransfer.config import ConfigError, NO_PRETRAIN, load_config
from vemtransfer.design import PRETRAIN_BUDGET, Run, job_counts, pretrained_run


def _validate(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    print(f"{args.config}: valid (config hash {cfg.hash}, recipe {cfg.raw['recipe']}); jobs of the experiment grid:")
    for name, n in job_counts(cfg.experiment).items():
        print(f"  {name:34s} {n}")


def _prepare(args: argparse.Namespace) -> None:
    from vemtransfer.runs import prepare_run

    cfg = load_config(args.config)
    if args.task not in cfg.tasks:
        raise SystemExit(f"unknown task {args.task!r}; tasks are {', '.join(cfg.tasks)}")
    for data_id in cfg.tasks[args.task].data_ids():  # one per fold
        summary = prepare_run(cfg.raw, data_id)
        print(f"{data_id}: {len(summary['origins'])} training patches, splits {summary['splits']}")


def _run_of(args: argparse.Namespace) -> Run:
    if args.budget == PRETRAIN_BUDGET:
        return Run(args.target, args.target, PRETRAIN_BUDGET, args.rep)
    return Run(args.source, args.target, args.budget, args.rep)


def _train(args: argparse.Namespace) -> None:
    from vemtransfer.runs import model_path, train_run

    cfg, run = load_config(args.config), _run_of(args)
    out = model_path(cfg.raw, run.model_id)
    init = None
    if not run.is_pretrain and run.source != NO_PRETRAIN:
        init = model_path(cfg.raw, pretrained_run(cfg.experiment, run.source, run.rep).model_id)
    history = train_run(cfg.raw, run.source, run.target, run.budget, run.rep, out, init, args.threads)
    print(f"{out}: best validation IoU {history['best_val_iou_fg']:.4f} at step {history['best_step']}")


def _evaluate(args: argparse.Namespace) -> None:
    from vemtransfer.runs import evaluate_run, model_path

    cfg, run = load_config(args.config), _run_of(args)
    metrics = Path(cfg.raw["results_dir"]) / "metrics" / f"{run.model_id}.json"
    record = evaluate_run(cfg.raw, run.model_id, run.target, model_path(cfg.raw, run.model_id), metrics, args.threads)
    print(yaml.safe_dump(record["scores"], sort_keys=False))


def _export(args: argparse.Namespace) -> None:
    import json

    from vemtransfer.export import export_model
    from vemtransfer.report.figure_jobs import task_spacing
    from vemtransfer.runs import model_path, task_dir

    cfg, run = load_config(args.config), _run_of(args)
    metrics_file = Path(cfg.raw["results_dir"]) / "metrics" / f"{run.model_id}.json"
    metrics = json.loads(metrics_file.read_text())["scores"] if metrics_file.exists() else {}
    history = model_path(cfg.raw, run.model_id).parent / "history.json"
    val_iou = json.loads(history.read_text())["best_val_iou_fg"] if history.exists() else None
    patches = task_dir(cfg.raw, cfg.tasks[run.target].data_id(run.rep)) / "patches.json"
    meta = export_model(
        model_path(cfg.raw, run.model_id), args.out, preprocess=cfg.tasks[run.target].preprocess,
        voxel_nm=list(task_spacing(cfg, patches)) if patches.exists() and cfg.raw["sources"][cfg.tasks[run.target].source].get("voxel_nm") else None,
        threshold=cfg.evaluation.threshold, overlap=cfg.evaluation.overlap, metrics=metrics, val_iou_fg=val_iou,
    )
    print(f"{args.out}: model.ts + model.json ({meta['target']}, patch {meta['patch_size']})")


def _predict(args: argparse.Namespace) -> None:
    import torch

    from vemtransfer.export import PreprocessedVolume, load_for_prediction
    from vemtransfer.volume_io import open_volume
    from vemtransfer.train import pick_device
    from vemtransfer.volume import predict_to_zarr

    torch.set_num_threads(args.threads)
    model, meta = load_for_prediction(args.model)
    raw = open_volume(args.input)
    if raw.dtype != "uint8" or len(raw.shape) != 3:
        raise SystemExit(f"vemtransfer: {args.input} is {raw.dtype} {tuple(raw.shape)}; expected a uint8 (z, y, x) volume")
    device = pick_device(args.device)
    summary = predict_to_zarr(model.to(device), PreprocessedVolume(raw, meta["preprocess"]), args.output, meta["patch_size"],
                              args.chunk, meta["overlap"], args.batch_size, device, True, meta["threshold"])
    print(f"{args.output}: prob + mask {summary['shape']} in {summary['seconds']:.1f} s")


def _run_args() -> argparse.ArgumentParser:
    """The options naming one run of the grid (shared by train, evaluate, export)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--source", default=NO_PRETRAIN, help=f"pretraining task or {NO_PRETRAIN} (ignored for --budget full)")
    p.add_argument("--target", required=True, help="task the model is trained/evaluated on")
    p.add_argument("--budget", default=PRETRAIN_BUDGET, help="p<N> patches, f<fraction>, or full (pretraining)")
    p.add_argument("--rep", type=int, default=1, help="repeat number (1-based)")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vemtransfer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate a config and print the experiment's job counts")
    v.add_argument("config", type=Path)
    v.set_defaults(func=_validate)
    pr = sub.add_parser("prepare", help="prepare one task's train/val/test volumes and patch index")
    pr.add_argument("config", type=Path)
    pr.add_argument("task", help="task id, e.g. SNEMI3D-N")
    pr.set_defaults(func=_prepare)
    for name, func, text in (("train", _train, "train one model of the grid (pretrain with --budget full)"),
                             ("evaluate", _evaluate, "score one trained model on its target's test split")):
        s = sub.add_parser(name, help=text, parents=[_run_args()])
        s.add_argument("config", type=Path)
        s.add_argument("--threads", type=int, default=1)
        s.set_defaults(func=func)
    ex = sub.add_parser("export", help="export one trained model of the grid as TorchScript + metadata", parents=[_run_args()])
    ex.add_argument("config", type=Path)
    ex.add_argument("--out", type=Path, required=True, help="folder for model.ts and model.json")
    ex.set_defaults(func=_export)
    pd_ = sub.add_parser("predict", help="predict a whole volume (TIFF, .npy or Zarr) with an exported or trained model")
    pd_.add_argument("--model", type=Path, required=True, help="exported folder (model.ts + model.json) or a model.pt")
    pd_.add_argument("--input", type=Path, required=True, help="raw uint8 (z, y, x) volume: multi-page .tif/.tiff, a folder of per-section TIFFs, .npy, a Zarr array/group or OME-Zarr")
    pd_.add_argument("--output", type=Path, required=True, help="output .zarr (arrays prob and mask)")
    pd_.add_argument("--chunk", type=int, nargs=3, default=[32, 512, 512], metavar=("Z", "Y", "X"), help="output chunk (memory bound)")
    pd_.add_argument("--batch-size", type=int, default=4)
    pd_.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    pd_.add_argument("--threads", type=int, default=1)
    pd_.set_defaults(func=_predict)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except ConfigError as exc:
        print(f"vemtransfer: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
