"""segment_pixel_classifier: the random-forest pixel classifier on a task's prepared splits, scored
on the regions the networks are scored on (validation crops for the threshold, the whole test split)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.baselines.pixel_classifier import ForestSettings, fit_and_predict
from vemtransfer.baselines.rows import PIXEL_CLASSIFIER
from vemtransfer.baselines.scoring import write_scores
from vemtransfer.config import Config
from vemtransfer.core.seeds import job_seed
from vemtransfer.data.patches import validation_crops
from vemtransfer.data.splits import Volume, load_split

METHOD = PIXEL_CLASSIFIER
"""Its method id: the file name of its metrics JSON and prediction under ``results/baselines/<task>/``."""


def forest_settings(spec: Mapping[str, Any], seed: int, threads: int) -> ForestSettings:
    """The forest of a ``baselines.pixel_classifier`` config entry, seeded, on ``threads`` cores."""
    return ForestSettings(trees=spec["trees"], samples=spec["samples"], sigmas=tuple(spec["sigmas"]),
                          min_samples_leaf=spec["min_samples_leaf"], seed=seed, threads=threads)


def validation_regions(cfg: Config, task: str, val: Volume) -> tuple[list[tuple[int, int, int]] | None, tuple[int, int, int] | None]:
    """(crops, size) of ``task``'s validation split exactly as its networks' model selection places
    them (same crop size, count and seed: :func:`vemtransfer.jobs.training.train_job`); (None, None)
    when validation scores the whole split."""
    t = cfg.section("train")["validation"]
    if not t["crops"]:
        return None, None
    size = cfg.val_crop_size
    seed = job_seed(cfg.seed, "validation", cfg.tasks[task].data_id(1))
    return validation_crops(list(val.blocks or [len(val.image)]), val.image.shape[1:], size, t["crops"], seed), size


def pixel_classifier_job(cfg: Config, task: str, patch_index: str | Path, out_json: str | Path, out_npz: str | Path,
                         threads: int = 1) -> dict[str, Any]:
    """Train the pixel classifier on the prepared training split of ``task`` (the folder of
    ``patch_index``), choose its threshold on the validation regions, score the whole test split."""
    spec = cfg.section("baselines")[METHOD]
    folder = Path(patch_index).parent
    train, val, test = (load_split(folder, s) for s in ("train", "val", "test"))
    crops, size = validation_regions(cfg, task, val)
    settings = forest_settings(spec, job_seed(cfg.seed, METHOD, task), threads)
    threshold = None if spec["threshold"] == "validation" else float(spec["threshold"])
    run = fit_and_predict((train.image, train.label), test.image, settings, (val.image, val.label), crops, size, threshold)
    extra = {"threshold": run.threshold, "val_iou_fg": run.val_iou, "val_regions": "whole split" if crops is None else f"{len(crops)} crops of {list(size)}",
             "split": "prepared", "train_pixels": run.train_pixels, "seed": settings.seed, "trees": settings.trees,
             "sigmas": list(settings.sigmas), "seconds_train": round(run.seconds_train, 1), "seconds_predict": round(run.seconds_predict, 1)}
    pred = run.test_prob > run.threshold
    return write_scores(cfg, task, METHOD, pred, test.label, list(range(len(test.image))), out_json, out_npz,
                        run.seconds_train + run.seconds_predict, extra)
