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

from vemtransfer.config import ENGINES, NO_PRETRAIN, Config, ConfigError, load_config
from vemtransfer.config.grid import PRETRAIN_BUDGET, Run, job_counts, pretrained_run
from vemtransfer.core.layout import Layout


def _validate(args: argparse.Namespace) -> None:
    from vemtransfer.data.file_checks import check_config

    cfg = check_config(args.config)  # opens the headers of local volumes too: what the schema alone cannot tell
    print(f"{args.config}: valid (config hash {cfg.hash}, recipe {cfg.raw['recipe']}); jobs of the experiment grid:")
    for name, n in job_counts(cfg.experiment).items():
        print(f"  {name:34s} {n}")
    _show_plans(cfg)


def _show_plans(cfg: Config) -> None:
    """Each prepared task's plan (computed, not written, where plan.json is missing); unprepared tasks are named."""
    from vemtransfer.planning.plan import describe, make_plan, read_plan

    layout, waiting = Layout.of(cfg.raw), []
    for task in cfg.tasks.values():
        for data_id in task.data_ids():
            if Path(layout.plan(data_id)).exists():
                print(describe(read_plan(layout.plan(data_id))))
            elif Path(layout.patch_index(data_id)).exists():
                from vemtransfer.planning.fingerprint import fingerprint

                voxel = cfg.raw["datasets"][task.dataset].get("voxel_nm")
                print(describe(make_plan(fingerprint(layout.prepared_dir(data_id), voxel), cfg.raw)))
            else:
                waiting.append(data_id)
    if waiting:
        print(f"plans follow preparation (`vemtransfer plan CONFIG TASK`): not yet prepared: {', '.join(waiting)}")


def _plan(args: argparse.Namespace) -> None:
    from vemtransfer.jobs.planning import plan_task_job
    from vemtransfer.planning.plan import describe

    cfg = load_config(args.config)
    if args.task not in cfg.tasks:
        raise SystemExit(f"unknown task {args.task!r}; tasks are {', '.join(cfg.tasks)}")
    layout = Layout.of(cfg.raw)
    for data_id in cfg.tasks[args.task].data_ids():
        if not Path(layout.patch_index(data_id)).exists():
            raise SystemExit(f"{data_id} is not prepared: run `vemtransfer prepare {args.config} {args.task}` first")
        print(describe(plan_task_job(cfg, data_id, layout.patch_index(data_id), layout.plan(data_id))))


def _manifest(cfg: Config, dataset: str) -> Path | None:
    """A downloaded dataset's manifest (None for generated and local ones, which are not downloaded)."""
    from vemtransfer.data.datasets import DOWNLOAD_KINDS

    return Path(Layout.of(cfg.raw).manifest(dataset)) if cfg.raw["datasets"][dataset]["kind"] in DOWNLOAD_KINDS else None


def _prepare(args: argparse.Namespace) -> None:
    from vemtransfer.jobs.preparation import prepare_task_job

    cfg = load_config(args.config)
    if args.task not in cfg.tasks:
        raise SystemExit(f"unknown task {args.task!r}; tasks are {', '.join(cfg.tasks)}")
    for data_id in cfg.tasks[args.task].data_ids():  # one per fold
        index = Layout.of(cfg.raw).patch_index(data_id)
        summary = prepare_task_job(cfg, data_id, _manifest(cfg, cfg.tasks[args.task].dataset), index)
        print(f"{data_id}: {len(summary['origins'])} training patches, splits {summary['splits']}")


def _run_of(args: argparse.Namespace) -> Run:
    if args.budget == PRETRAIN_BUDGET:
        return Run(args.target, args.target, PRETRAIN_BUDGET, args.rep)
    return Run(args.source, args.target, args.budget, args.rep)


def _train(args: argparse.Namespace) -> None:
    from vemtransfer.jobs.training import train_job

    cfg, run = load_config(args.config), _run_of(args)
    layout = Layout.of(cfg.raw)
    out = layout.model(run.model_id)
    init = None
    if not run.is_pretrain and run.source != NO_PRETRAIN:
        init = layout.model(pretrained_run(cfg.experiment, run.source, run.rep).model_id)
    index = layout.patch_index(cfg.tasks[run.target].data_id(run.rep))
    plan = Path(layout.plan(cfg.tasks[run.target].data_id(run.rep)))
    history = train_job(cfg, run.source, run.target, run.budget, run.rep, index, out, init, args.threads, plan if plan.exists() else None)
    print(f"{out}: best validation IoU {history['best_val_iou_fg']:.4f} at step {history['best_step']}")


def _evaluate(args: argparse.Namespace) -> None:
    from vemtransfer.jobs.evaluation import evaluate_job

    cfg, run = load_config(args.config), _run_of(args)
    layout = Layout.of(cfg.raw)
    test_image = layout.prepared(cfg.tasks[run.target].data_id(run.rep), "test")[0]
    record = evaluate_job(cfg, run.model_id, run.target, layout.model(run.model_id), test_image, layout.metrics(run.model_id), args.threads)
    print(yaml.safe_dump(record["scores"], sort_keys=False))


def _exported_run(args: argparse.Namespace, cfg: Config) -> Run:
    """The run to export: as named, else (no --source/--budget/--rep) the one the target's
    recommendation chose (``chosen_model.json``), so export, recommendation and prediction agree."""
    import json

    choice = Path(Layout.of(cfg.raw).recommend(args.target, "chosen_model.json"))
    if (args.source, args.budget, args.rep) == (None, None, None) and choice.exists():
        chosen = json.loads(choice.read_text())
        print(f"exporting the recommended model {chosen['model_id']} ({choice})")
        return Run(chosen["source"], args.target, chosen["budget"], chosen["rep"])
    args.source = args.source or NO_PRETRAIN
    args.budget = args.budget or PRETRAIN_BUDGET
    args.rep = args.rep or 1
    return _run_of(args)


def _require(module: str, extra: str, why: str) -> None:
    """Import ``module`` (an optional extra's) or fail in one line naming the install command."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{why} needs {module}, which is not installed ({exc}); "
                           f"install it with: pip install 'vemtransfer[{extra}]'") from exc


def _export_pretrained_source(args: argparse.Namespace) -> None:
    from vemtransfer.export.pretrained_source import export_pretrained_source

    if not args.source:
        raise ConfigError("--stage pretrain needs --source TASK (the pretrained source task to export)")
    shared = export_pretrained_source(load_config(args.config), args.source, args.rep or 1, args.out, args.format,
                                      authors=args.author, license=args.license, zip=not args.no_zip)
    print(f"{shared.file}: pretrained source {shared.run_id}, sha256 {shared.sha256}; config entry in {args.out / 'pretrained.yaml'}")


def _export(args: argparse.Namespace) -> None:
    from vemtransfer.export.torchscript import export_model, export_options, model_metadata, prepared_test_volume

    if args.format == "bioimageio":
        _require("bioimageio.spec", "bioimageio", "--format bioimageio")  # before any work
    if args.stage == "pretrain":
        return _export_pretrained_source(args)
    if args.target is None:
        raise ConfigError("--target is required (or --stage pretrain --source TASK to export a pretrained source)")
    cfg = load_config(args.config)
    if args.target not in cfg.tasks:
        raise ConfigError(f"unknown task {args.target!r}; tasks are {', '.join(cfg.tasks)}")
    run = _exported_run(args, cfg)
    model, options = export_options(cfg, run)
    if not model.exists():
        raise FileNotFoundError(f"{model} does not exist: train it first (snakemake {model} --configfile {args.config})")
    if not options["metrics"] and cfg.tasks[run.target].test is not None:
        print(f"note: no test metrics yet; to score the model: snakemake {Layout.of(cfg.raw).metrics(run.model_id)} --configfile {args.config}")
    if args.format == "torchscript":
        meta = export_model(model, args.out, **options)
        print(f"{args.out}: model.ts + model.json ({run.model_id}, patch {meta['patch_size']})")
        return
    from vemtransfer.export.bioimageio import export_bioimageio

    meta = model_metadata(model, **options)
    package = export_bioimageio(model, args.out, meta, authors=args.author, license=args.license, zip=not args.no_zip,
                                test_input=prepared_test_volume(cfg, run, meta["patch_size"]))
    written = " + ".join(str(p) for p in (package.rdf.parent, package.zip) if p)
    print(f"{written}: bioimage.io package ({run.model_id}, patch {meta['patch_size']})")


def _predict(args: argparse.Namespace) -> None:
    import torch

    from vemtransfer.core.device import pick_device
    from vemtransfer.data.volume_io import open_volume
    from vemtransfer.export.torchscript import PreprocessedVolume, input_preprocessing, load_for_prediction
    from vemtransfer.inference.runners import make_runner
    from vemtransfer.inference.volume import predict_to_zarr

    torch.set_num_threads(args.threads)
    model, meta = load_for_prediction(args.model)
    raw = open_volume(args.input)
    if raw.dtype != "uint8" or len(raw.shape) != 3:
        raise SystemExit(f"vemtransfer: {args.input} is {raw.dtype} {tuple(raw.shape)}; expected a uint8 (z, y, x) volume")
    pp, input_voxel, note = input_preprocessing(meta, raw.shape, args.input_voxel_nm)
    if note:
        print(f"note: {note}")
    voxel = args.voxel_nm or input_voxel or meta.get("voxel_nm") or (1.0, 1.0, 1.0)
    runner = make_runner(args.engine, model, pick_device(args.device), meta["patch_size"], amp=True, threads=args.threads)
    summary = predict_to_zarr(runner, PreprocessedVolume(raw, pp), args.output, meta["patch_size"], args.chunk,
                              meta["overlap"], args.batch_size, meta["threshold"], args.block, voxel, {"model": str(args.model)})
    print(f"{args.output}: OME-Zarr probability + labels/mask {summary['shape']} at {voxel} nm in {summary['seconds']:.1f} s "
          f"({summary['windows']} windows, {runner.description})")


def _measure(args: argparse.Namespace) -> None:
    from vemtransfer.jobs.measurement import measure_prediction

    out = args.out or Path(args.prediction).parent
    summary = measure_prediction(args.prediction, out / "morphometrics.csv", out / "morphometrics.json", out / "size_distribution.png",
                                 args.chunk, args.connectivity)
    print(f"{out / 'morphometrics.csv'}: {summary['count']} objects, volume fraction {summary['volume_fraction']:.4f}")


def _run_args(defaults: bool = True) -> argparse.ArgumentParser:
    """The options naming one run of the grid (shared by train, evaluate, export); without
    ``defaults``, export uses the recommendation's choice when none is given."""
    p = argparse.ArgumentParser(add_help=False)
    d = defaults
    p.add_argument("--source", default=NO_PRETRAIN if d else None, help=f"pretraining task or {NO_PRETRAIN} (ignored for --budget full)")
    p.add_argument("--target", required=d, help="task the model is trained/evaluated on")
    p.add_argument("--budget", default=PRETRAIN_BUDGET if d else None, help="p<N> patches, f<fraction>, or full (pretraining)")
    p.add_argument("--rep", type=int, default=1 if d else None, help="repeat number (1-based)")
    return p


EXPORT_HELP = """\
Export a trained model: the one --source/--budget/--rep name, else the one the target's
recommendation chose (chosen_model.json), else the target's own full-data model (--budget
full, rep 1). Both formats record the same metadata (task, patch size, voxel size,
threshold, preprocessing, training data, validation/test metrics).

--format torchscript (default): OUT/model.ts (TorchScript) + OUT/model.json, what
`vemtransfer predict --model OUT` reads.

--stage pretrain --source TASK [--rep R]: the source's pretrained model, to share: also
OUT/model.pt (the checkpoint) with torchscript, and OUT/pretrained.yaml, the `pretrained:`
entry (path and sha256) that imports model.pt or bioimageio.zip into another project.

--format bioimageio: a bioimage.io model package (spec 0.5), the folder OUT/bioimageio/
(rdf.yaml, TorchScript and state-dict weights with the architecture source, test tensors
cut from the task's prepared test volume, cover, README, citations, licence) and
OUT/bioimageio.zip. Its input is the preprocessed (CLAHE + blur) uint8 volume as float32.
bioimageio.core runs it (`bioimageio test OUT/bioimageio.zip`). Needs the extra:
pip install 'vemtransfer[bioimageio]'.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vemtransfer", description=__doc__.split("\n")[0])
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate a config (schema, references, regions against local volume headers) and print the job counts")
    v.add_argument("config", type=Path)
    v.set_defaults(func=_validate)
    pr = sub.add_parser("prepare", help="prepare one task's train/val/test volumes and patch index")
    pr.add_argument("config", type=Path)
    pr.add_argument("task", help="task id, e.g. SNEMI3D-N")
    pr.set_defaults(func=_prepare)
    pl = sub.add_parser("plan", help="fingerprint a prepared task and write its plan.json; print each choice with its reason")
    pl.add_argument("config", type=Path)
    pl.add_argument("task", help="task id, e.g. SNEMI3D-N")
    pl.set_defaults(func=_plan)
    for name, func, text in (("train", _train, "train one model of the grid (pretrain with --budget full)"),
                             ("evaluate", _evaluate, "score one trained model on its target's test split")):
        s = sub.add_parser(name, help=text, parents=[_run_args()])
        s.add_argument("config", type=Path)
        s.add_argument("--threads", type=int, default=1)
        s.set_defaults(func=func)
    ex = sub.add_parser("export", help="export a trained model (default: the target's recommended model) as TorchScript + metadata "
                                       "or as a bioimage.io model package", description=EXPORT_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter, parents=[_run_args(defaults=False)])
    ex.add_argument("config", type=Path)
    ex.add_argument("--out", type=Path, required=True,
                    help="output folder: model.ts + model.json (torchscript), or bioimageio/rdf.yaml + bioimageio.zip (bioimageio)")
    ex.add_argument("--format", choices=("torchscript", "bioimageio"), default="torchscript",
                    help="torchscript (default): model.ts + model.json, what `vemtransfer predict` reads; bioimageio: a "
                         "bioimage.io model package (spec 0.5) for bioimageio.core and the tools that run bioimage.io models "
                         "(needs pip install 'vemtransfer[bioimageio]')")
    ex.add_argument("--author", action="append", default=[], metavar="NAME",
                    help="bioimageio: an author of the package (repeat for several; bioimage.io expects at least one)")
    ex.add_argument("--license", default="MIT", metavar="SPDX",
                    help="bioimageio: the package's licence as an SPDX id (default MIT); pick one your training data's terms allow")
    ex.add_argument("--no-zip", action="store_true", help="bioimageio: write only the package folder, not bioimageio.zip")
    ex.add_argument("--stage", choices=("finetune", "pretrain"), default="finetune",
                    help="pretrain: export --source's pretrained model (repeat --rep) to share it: OUT/model.pt + model.json + "
                         "model.ts, or with --format bioimageio the package, and OUT/pretrained.yaml, the config entry importing it")
    ex.set_defaults(func=_export)
    pd_ = sub.add_parser("predict", help="predict a whole volume (TIFF, PNG sections, .npy or Zarr) with an exported or trained model")
    pd_.add_argument("--model", type=Path, required=True, help="exported folder (model.ts + model.json) or a model.pt")
    pd_.add_argument("--input", type=Path, required=True, help="raw uint8 (z, y, x) volume: multi-page .tif/.tiff, a folder of TIFF or PNG sections, .npy, a Zarr array/group, "
                          "OME-Zarr, or a single 2-D image")
    pd_.add_argument("--input-voxel-nm", type=float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                     help="the input's voxel size in nm: a model trained on sections rescaled to a pixel size (voxel_yx_nm) "
                          "rescales the input from it (default: the training volume's, with a note)")
    pd_.add_argument("--output", type=Path, required=True, help="output OME-Zarr (.zarr: probability image + labels/mask); napari opens it")
    pd_.add_argument("--chunk", type=int, nargs=3, default=[32, 512, 512], metavar=("Z", "Y", "X"), help="OME-Zarr chunk")
    pd_.add_argument("--block", type=int, nargs=3, default=[64, 1024, 1024], metavar=("Z", "Y", "X"),
                     help="most voxels one block of windows covers (memory: its input + float32 sums)")
    pd_.add_argument("--voxel-nm", type=float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                     help="voxel size written into the prediction in nm (default: from --input-voxel-nm and the rescaling, else "
                          "the exported model's, else 1)")
    pd_.add_argument("--batch-size", type=int, default=4)
    pd_.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    pd_.add_argument("--threads", type=int, default=1)
    pd_.add_argument("--engine", choices=ENGINES, default="auto",
                     help="auto: PyTorch on a GPU; on a CPU OpenVINO, else ONNX Runtime, else PyTorch (the fastest with equal masks)")
    pd_.set_defaults(func=_predict)
    me = sub.add_parser("measure", help="numbers per organelle of a prediction (OME-Zarr): morphometrics.csv, its summary and a size histogram")
    me.add_argument("prediction", type=Path, help="a prediction .zarr (from the workflow or vemtransfer predict)")
    me.add_argument("--out", type=Path, default=None, help="folder of the outputs (default: beside the prediction)")
    me.add_argument("--chunk", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"), help="labelling chunk (default: the mask's chunks)")
    me.add_argument("--connectivity", type=int, choices=(1, 2, 3), default=1,
                    help="voxels joined across faces (1), also edges (2), also corners (3)")
    me.set_defaults(func=_measure)
    return p


class MissingExtra(ImportError):
    """An optional dependency (a ``pyproject.toml`` extra) that a chosen option needs is not installed."""


USER_ERRORS = (ConfigError, OSError, ValueError, KeyError, MissingExtra)
"""What bad input raises (a wrong config, a missing or corrupt file, a wrong argument, an
option whose extra is not installed): one line, no traceback."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except BrokenPipeError:  # `vemtransfer validate ... | head`
        sys.stderr.close()
        return 0
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"vemtransfer {args.command}: error: {message} (--debug for the traceback)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
