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
from vemtransfer.design import PRETRAIN_BUDGET, Run, job_counts


def _validate(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    print(f"{args.config}: valid (config hash {cfg.hash}); jobs of the experiment grid:")
    for name, n in job_counts(cfg.experiment).items():
        print(f"  {name:34s} {n}")


def _prepare(args: argparse.Namespace) -> None:
    from vemtransfer.runs import prepare_run

    summary = prepare_run(load_config(args.config).raw, args.task)
    print(f"{args.task}: {len(summary['origins'])} training patches, splits {summary['splits']}")


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
        init = model_path(cfg.raw, Run(run.source, run.source, PRETRAIN_BUDGET, run.rep).model_id)
    history = train_run(cfg.raw, run.source, run.target, run.budget, run.rep, out, init, args.threads)
    print(f"{out}: best validation IoU {history['best_val_iou_fg']:.4f} at step {history['best_step']}")


def _evaluate(args: argparse.Namespace) -> None:
    from vemtransfer.runs import evaluate_run, model_path

    cfg, run = load_config(args.config), _run_of(args)
    metrics = Path(cfg.raw["results_dir"]) / "metrics" / f"{run.model_id}.json"
    record = evaluate_run(cfg.raw, run.model_id, run.target, model_path(cfg.raw, run.model_id), metrics, args.threads)
    print(yaml.safe_dump(record["scores"], sort_keys=False))


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
        s = sub.add_parser(name, help=text)
        s.add_argument("config", type=Path)
        s.add_argument("--source", default=NO_PRETRAIN, help=f"pretraining task or {NO_PRETRAIN} (ignored for --budget full)")
        s.add_argument("--target", required=True, help="task the model is trained/evaluated on")
        s.add_argument("--budget", default=PRETRAIN_BUDGET, help="p<N> patches, f<fraction>, or full (pretraining)")
        s.add_argument("--rep", type=int, default=1, help="repeat number (1-based)")
        s.add_argument("--threads", type=int, default=1)
        s.set_defaults(func=func)
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
