"""One training or evaluation job of the experiment grid, from a config and a run's identity.

These are what the workflow scripts (and the CLI) call: they locate the prepared data,
choose the nested label subset, derive the job's seed and record provenance, so that a
run's result depends only on (config, source, target, budget, repeat).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vemtransfer.checkpoint import read_model_file
from vemtransfer.config import validate_config
from vemtransfer.data import budget_size, load_split
from vemtransfer.design import PRETRAIN_BUDGET
from vemtransfer.evaluate import evaluate_model, git_commit
from vemtransfer.prepare import prepare_task
from vemtransfer.download import write_manifest
from vemtransfer.sources import fetch_source, needed_sections, open_source
from vemtransfer.storage import write_json
from vemtransfer.train import job_seed, pick_device, train_model


def task_dir(raw: Mapping[str, Any], task: str) -> Path:
    return Path(raw["resources_dir"]) / "prepared" / task


def download_run(raw_config: Mapping[str, Any], source: str, manifest: str | Path) -> list[dict[str, Any]]:
    """Fetch what the configured tasks need of ``source``; the manifest is written last (it marks done)."""
    cfg = validate_config(raw_config)
    raw_dir = Path(cfg.raw["resources_dir"]) / "raw" / source
    records = fetch_source(source, cfg.raw["sources"][source], raw_dir, needed_sections(cfg, source))
    write_manifest(manifest, records)
    return records


def prepare_run(raw_config: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    """Read (or generate) the task's source and write its prepared splits and patch index."""
    cfg = validate_config(raw_config)
    task = cfg.tasks[task_id]
    raw_dir = Path(cfg.raw["resources_dir"]) / "raw" / task.source
    source = open_source(task.source, cfg.raw["sources"][task.source], raw_dir)
    return prepare_task(task, source, task_dir(cfg.raw, task_id), cfg.patch_size,
                        task.patch_stride or cfg.patch_stride, job_seed(cfg.seed, "subsets", task_id))


def train_run(raw_config: Mapping[str, Any], source: str, target: str, budget: str, rep: int, out_model: str | Path, init: str | Path | None, threads: int = 1) -> dict[str, Any]:
    """Train the model of one run into ``out_model``'s folder; returns the training history.

    Reads only the target's train and validation splits (never its test split).
    """
    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    folder = task_dir(cfg.raw, target)
    index = json.loads((folder / "patches.json").read_text())
    k = budget_size(budget, len(index["origins"]))
    origins = [tuple(index["origins"][i]) for i in index["subset_order"][:k]]
    seed = job_seed(cfg.seed, "train", source, target, budget, rep)
    meta = {"source": source, "target": target, "budget": budget, "rep": rep, "seed": seed,
            "config_hash": cfg.hash, "demo": cfg.demo, "patch_size": list(cfg.patch_size)}
    stage = "pretrain" if budget == PRETRAIN_BUDGET else "finetune"
    return train_model(
        load_split(folder, "train"), load_split(folder, "val"), origins, cfg.patch_size,
        cfg.train_config(stage), cfg.model, cfg.evaluation, Path(out_model).parent, seed,
        init=init, meta=meta,
    )


def evaluate_run(raw_config: Mapping[str, Any], model_id: str, target: str, model_path: str | Path, out_json: str | Path, threads: int = 1) -> dict[str, Any]:
    """Score ``model_path`` on ``target``'s test split; write the metrics JSON with provenance."""
    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    meta = {k: v for k, v in read_model_file(model_path).items() if k != "state_dict"}
    if meta["target"] != target:
        raise ValueError(f"{model_path} was trained for {meta['target']}, asked to evaluate on {target}")
    result = evaluate_model(model_path, load_split(task_dir(cfg.raw, target), "test"), cfg.patch_size, cfg.evaluation, pick_device(), cfg.raw["train"]["amp"])
    record = {
        "model_id": model_id, **{k: meta[k] for k in ("source", "target", "budget", "rep", "seed")},
        **result, "checkpoint": str(model_path), "selected_step": meta.get("selected_step"),
        "config_hash": cfg.hash, "git_commit": git_commit(Path(__file__).parent), "demo": cfg.demo,
    }
    write_json(out_json, record)
    return record


def model_path(raw: Mapping[str, Any], model_id: str) -> Path:
    return Path(raw["results_dir"]) / "models" / model_id / "model.pt"


def predict_test_run(raw_config: Mapping[str, Any], target: str, model_file: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Chunked prediction of ``target``'s test volume (probability + mask Zarr), for Figs. 3 and 4."""
    from vemtransfer.checkpoint import load_model
    from vemtransfer.volume import predict_to_zarr

    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    test = load_split(task_dir(cfg.raw, target), "test")
    device = pick_device()
    ev = cfg.evaluation
    return predict_to_zarr(load_model(model_file).to(device), test.image, out_zarr, cfg.patch_size, cfg.raw["figures"]["chunk"],
                           ev.overlap, ev.batch_size, device, cfg.raw["train"]["amp"], ev.threshold)


def prepare_volume_run(raw_config: Mapping[str, Any], out_npy: str | Path, out_json: str | Path) -> dict[str, Any]:
    """Preprocess the Fig. 5 volume section by section (crop/resize, CLAHE + blur) into one uint8 .npy."""
    from vemtransfer.prepare import preprocess_image
    from vemtransfer.sources.store import MAIN
    from vemtransfer.storage import npy_section_writer

    cfg = validate_config(raw_config)
    spec = cfg.raw["figures"]["fig5"]
    sections = open_source(spec["source"], cfg.raw["sources"][spec["source"]], Path(cfg.raw["resources_dir"]) / "raw" / spec["source"])
    zs = list(range(*spec["z"])) if "z" in spec else sections.indices(MAIN)
    with npy_section_writer(out_npy, len(zs)) as append:
        for z in zs:
            append(preprocess_image(sections.image(MAIN, z), spec["preprocess"]))
    info = {"sections": len(zs), "z_step": spec["z"][2] if len(spec.get("z", [])) == 3 else 1,
            "raw_section_shape": list(sections.image(MAIN, zs[0]).shape)}
    write_json(out_json, info)
    return info


def predict_volume_run(raw_config: Mapping[str, Any], model_file: str | Path, volume_npy: str | Path, out_zarr: str | Path, threads: int = 1) -> dict[str, Any]:
    """Chunked, memory-bounded prediction of the prepared Fig. 5 volume (memory-mapped input)."""
    import numpy as np

    from vemtransfer.checkpoint import load_model
    from vemtransfer.volume import predict_to_zarr

    cfg = validate_config(raw_config)
    torch.set_num_threads(threads)
    device, ev = pick_device(), cfg.evaluation
    return predict_to_zarr(load_model(model_file).to(device), np.load(volume_npy, mmap_mode="r"), out_zarr, cfg.patch_size,
                           cfg.raw["figures"]["chunk"], ev.overlap, ev.batch_size, device, cfg.raw["train"]["amp"], ev.threshold)
