"""The workflow's jobs called as the CLI calls them: full config, paths from the layout."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vemtransfer.config import validate_config
from vemtransfer.core.layout import Layout
from vemtransfer.data.datasets import DOWNLOAD_KINDS, needed_sections
from vemtransfer.jobs.download import download_dataset
from vemtransfer.jobs.evaluation import evaluate_job
from vemtransfer.jobs.preparation import prepare_task_job
from vemtransfer.jobs.training import train_job


def prepared_dir(raw: Mapping[str, Any], data_id: str) -> Path:
    return Path(Layout.of(validate_config(raw).raw).prepared_dir(data_id))


def model_path(raw: Mapping[str, Any], model_id: str) -> Path:
    return Path(Layout.of(validate_config(raw).raw).model(model_id))


def download(raw: Mapping[str, Any], dataset: str) -> list[dict[str, Any]]:
    cfg = validate_config(raw)
    return download_dataset(cfg, dataset, needed_sections(cfg, dataset), Layout.of(cfg.raw).manifest(dataset))


def prepare(raw: Mapping[str, Any], data_id: str) -> dict[str, Any]:
    cfg = validate_config(raw)
    layout, dataset = Layout.of(cfg.raw), cfg.tasks[data_id.split("/")[0]].dataset
    manifest = layout.manifest(dataset) if cfg.raw["datasets"][dataset]["kind"] in DOWNLOAD_KINDS else None
    return prepare_task_job(cfg, data_id, manifest, layout.patch_index(data_id))


def train(raw: Mapping[str, Any], source: str, target: str, budget: str, rep: int, out_model: str | Path,
          init: str | Path | None = None) -> dict[str, Any]:
    cfg = validate_config(raw)
    return train_job(cfg, source, target, budget, rep, Layout.of(cfg.raw).patch_index(cfg.tasks[target].data_id(rep)), out_model, init)


def evaluate(raw: Mapping[str, Any], model_id: str, target: str, model: str | Path, out_json: str | Path, rep: int = 1) -> dict[str, Any]:
    cfg = validate_config(raw)
    test = Layout.of(cfg.raw).prepared(cfg.tasks[target].data_id(rep), "test")[0]
    return evaluate_job(cfg, model_id, target, model, test, out_json)
