"""import_pretrained: a published pretrained model (URL or file, checksummed) as a source task's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vemtransfer.config import Config
from vemtransfer.model.pretrained import import_model, model_spec


def import_pretrained_job(cfg: Config, task: str, rep: int, out_model: str | Path) -> dict[str, Any]:
    """Import the configured published model of ``task`` (repeat ``rep``) as our model file."""
    return import_model(model_spec(cfg.section("pretrained")[task], rep), out_model, task, list(cfg.model.widths), cfg.model.planar_levels)
