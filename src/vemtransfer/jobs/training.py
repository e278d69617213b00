"""One workflow job (download, prepare, train, evaluate, predict) from a config and its identity.

These are what the workflow scripts (and the CLI) call: they locate the raw and prepared
data, choose the nested label subset, derive the job's seed and record provenance, so that
a run's result depends only on (config, source, target, budget, repeat).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.checkpoint import load_model, read_model_file
from vemtransfer.config import Config, validate_config
from vemtransfer.data import budget_size, load_split
from vemtransfer.design import PRETRAIN_BUDGET
from vemtransfer.evaluate import evaluate_model, git_commit
from vemtransfer.download import write_manifest
from vemtransfer.prepare import prepare_task, prepared_voxel_nm, preprocess_image, resolve_preprocess
from vemtransfer.sources import fetch_source, needed_sections, open_source
from vemtransfer.storage import npy_section_writer, write_json
from vemtransfer.train import job_seed, pick_device, train_model
from vemtransfer.volume import predict_to_zarr


def task_dir(raw: Mapping[str, Any], data_id: str) -> Path:
    """Prepared data of a task (``TaskSpec.data_id``: the task id, plus ``/fold<k>`` for a fold)."""
    return Path(raw["resources_dir"]) / "prepared" / data_id


def raw_dir(raw: Mapping[str, Any], source: str) -> Path:
    return Path(raw["resources_dir"]) / "raw" / source


def model_path(raw: Mapping[str, Any], model_id: str) -> Path:
    return Path(raw["results_dir"]) / "models" / model_id / "model.pt"


def download_run(raw_config: Mapping[str, Any], source: str, manifest: str | Path, sha256sums: str | Path | None = None) -> list[dict[str, Any]]:
    """Fetch what the configured tasks need of ``source``; the manifest is written last (it marks done).

    ``sha256sums``: where the source's checksum list was found, if not at its configured path.
    """
    cfg = validate_config(raw_config)
    spec = dict(cfg.raw["sources"][source]) | ({"sha256sums": str(sha256sums)} if sha256sums else {})
    records = fetch_source(source, spec, raw_dir(cfg.raw, source), needed_sections(cfg, source))
    write_manifest(manifest, records)
    return records


def prepare_run(raw_config: Mapping[str, Any], data_id: str) -> dict[str, Any]:
    """Read (or generate) the task's source and write the prepared splits and patch index of
    ``data_id`` (a task id, or ``<task>/fold<k>`` for one fold of a task with folds)."""
    cfg = validate_config(raw_config)
    task = cfg.tasks[data_id.split("/")[0]].for_data(data_id)
    spec = cfg.raw["sources"][task.source]
    source = open_source(task.source, spec, raw_dir(cfg.raw, task.source))
    return prepare_task(task, source, task_dir(cfg.raw, data_id), cfg.patch_size, task.patch_stride or cfg.patch_stride,
                        job_seed(cfg.seed, "subsets", data_id), voxel_nm=spec.get("voxel_nm"), fold=task.fold_of_data(data_id),
                        val_size=cfg.val_crop_size, cells=cfg.raw["train"]["sampling"] == "random")


def train_run(raw_config: Mapping[str, Any], source: str, target: str, budget: str, rep: int, out_model: str | Path, init: str | Path | None, threads: int = 1) -> dict[str, Any]:
    """Train the model of one run into ``out_model``'s folder; returns the training history.

    Reads only the target's train and validation splits (never its test split).
    """
    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    data_id = cfg.tasks[target].data_id(rep)
    folder = task_dir(cfg.raw, data_id)
    index = json.loads((folder / "patches.json").read_text())
    k = budget_size(budget, len(index["origins"]))
    origins = [tuple(index["origins"][i]) for i in index["subset_order"][:k]]
    # The seed leaves the source out: every source (and NoPretrain) fine-tuned on the same
    # target, budget and repeat sees the same batches, so sources are compared paired.
    seed = job_seed(cfg.seed, "train", target, budget, rep)
    meta = {"source": source, "target": target, "budget": budget, "rep": rep, "seed": seed,
            "config_hash": cfg.hash, "demo": cfg.demo, "patch_size": list(cfg.patch_size)}
    stage = "pretrain" if budget == PRETRAIN_BUDGET else "finetune"
    return train_model(
        load_split(folder, "train"), load_split(folder, "val"), origins, cfg.patch_size,
        cfg.train_config(stage), cfg.model, cfg.evaluation, Path(out_model).parent, seed,
        init=init, meta=meta, sparse=cfg.tasks[target].labelled is not None,
        blocks={split: index["splits"][split]["blocks"] for split in ("train", "val")}, val_seed=job_seed(cfg.seed, "validation", data_id),
        cell_size=_cell_size(index, cfg, folder),
    )


def _cell_size(index: Mapping[str, Any], cfg: Config, folder: Path) -> tuple[int, int, int] | None:
    """The budget cell of a dataset prepared for random sampling (None: patch-sized tiles); the two must agree."""
    cells = index.get("budget_unit") == "cell"
    if cells != (cfg.raw["train"]["sampling"] == "random"):
        raise ValueError(f"{folder}/patches.json holds {'cells' if cells else 'tiles'} but train.sampling is "
                         f"{cfg.raw['train']['sampling']!r}: prepare the task again")
    return tuple(index["stride"]) if cells else None


def evaluate_run(raw_config: Mapping[str, Any], model_id: str, target: str, model_path: str | Path, out_json: str | Path, threads: int = 1) -> dict[str, Any]:
    """Score ``model_path`` on ``target``'s test split; write the metrics JSON with provenance."""
    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    meta = {k: v for k, v in read_model_file(model_path).items() if k != "state_dict"}
    if meta["target"] != target:
        raise ValueError(f"{model_path} was trained for {meta['target']}, asked to evaluate on {target}")
    test = load_split(task_dir(cfg.raw, cfg.tasks[target].data_id(meta["rep"])), "test")
    result = evaluate_model(model_path, test, cfg.patch_size, cfg.evaluation, pick_device(), cfg.raw["train"]["amp"], cfg.raw["train"]["channels_last"])
    record = {
        "model_id": model_id, **{k: meta[k] for k in ("source", "target", "budget", "rep", "seed")}, "fold": cfg.tasks[target].fold(meta["rep"]),
        **result, "checkpoint": str(model_path), "selected_step": meta.get("selected_step"),
        "config_hash": cfg.hash, "git_commit": git_commit(Path(__file__).parent), "demo": cfg.demo,
    }
    write_json(out_json, record)
    return record


def _predict_to_zarr(cfg: Config, model_file: str | Path, image: Any, out_zarr: str | Path, threads: int) -> dict[str, Any]:
    """Chunked sliding-window prediction with the evaluation settings, into a probability + mask Zarr."""
    torch.set_num_threads(threads)
    device, ev = pick_device(), cfg.evaluation
    return predict_to_zarr(load_model(model_file).to(device), image, out_zarr, cfg.patch_size, cfg.raw["figures"]["chunk"],
                           ev.overlap, ev.batch_size, device, cfg.raw["train"]["amp"], ev.threshold)


def predict_test_run(raw_config: Mapping[str, Any], target: str, model_file: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Prediction of ``target``'s test volume (the model's fold of it), for Figs. 3 and 4."""
    cfg = validate_config(raw_config)
    folder = task_dir(cfg.raw, cfg.tasks[target].data_id(read_model_file(model_file)["rep"]))
    return _predict_to_zarr(cfg, model_file, load_split(folder, "test").image, out_zarr, threads)


def _volume_spec(cfg: Config, volume: str) -> tuple[str, list[int] | None, Mapping[str, Any]]:
    """(source, z range or None for all sections, preprocessing) of a whole volume to predict:
    ``fig5`` (the Fig. 5 volume) or a task id (its source's whole volume, the task's preprocessing)."""
    if volume == "fig5":
        spec = cfg.raw["figures"]["fig5"]
        return spec["source"], spec.get("z"), spec["preprocess"]
    task = cfg.tasks[volume]
    return task.source, None, task.preprocess


def prepare_volume_run(raw_config: Mapping[str, Any], volume: str, out_npy: str | Path, out_json: str | Path) -> dict[str, Any]:
    """Preprocess a whole volume section by section (crop/resize, CLAHE + blur) into one uint8 .npy.

    The JSON beside it records the prepared voxel size (nm), from which meshes are scaled.
    """
    cfg = validate_config(raw_config)
    source, z, pp = _volume_spec(cfg, volume)
    spec = cfg.raw["sources"][source]
    sections = open_source(source, spec, raw_dir(cfg.raw, source))
    if len(sections.volumes()) != 1:
        raise ValueError(f"{volume}: whole-volume prediction needs a single-volume source; {source} has {list(sections.volumes())}")
    name = sections.volumes()[0]
    zs = list(range(*z)) if z else sections.indices(name)
    first = sections.image(name, zs[0])  # sizes the preprocessing; written below without a second read
    raw_shape = first.shape
    pp = resolve_preprocess(pp, spec.get("voxel_nm"), raw_shape)
    with npy_section_writer(out_npy, len(zs)) as append:
        for i, zi in enumerate(zs):
            append(preprocess_image(first if i == 0 else sections.image(name, zi), pp))
    z_step = z[2] if z and len(z) == 3 else 1
    info = {"volume": volume, "source": source, "sections": len(zs), "z_step": z_step, "raw_section_shape": list(raw_shape),
            "voxel_nm": list(prepared_voxel_nm(spec["voxel_nm"], raw_shape, z_step, pp)) if spec.get("voxel_nm") else None}
    write_json(out_json, info)
    return info


def predict_task_run(raw_config: Mapping[str, Any], task: str, choice_json: str | Path, volume_npy: str | Path, out_zarr: str | Path,
                     threads: int = 1) -> dict[str, Any]:
    """Whole-volume prediction of ``task``'s source with the model its recommendation chose."""
    cfg = validate_config(raw_config)
    choice = json.loads(Path(choice_json).read_text())
    if choice["task"] != task:
        raise ValueError(f"{choice_json} chose a model for {choice['task']}, not {task}")
    model = model_path(cfg.raw, choice["model_id"])
    return {"model_id": choice["model_id"], **_predict_to_zarr(cfg, model, np.load(volume_npy, mmap_mode="r"), out_zarr, threads)}


def predict_volume_run(raw_config: Mapping[str, Any], model_file: str | Path, volume_npy: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Memory-bounded prediction of the prepared Fig. 5 volume (read through a memory map)."""
    return _predict_to_zarr(validate_config(raw_config), model_file, np.load(volume_npy, mmap_mode="r"), out_zarr, threads)
