"""What every Table 3 baseline job shares: its raw-resolution input and its scored output.

Baselines are scored with the same metrics code as our model (foreground IoU and the fg/bg
mean, over the whole selected test stack); the binarised prediction is kept as a
compressed ``.npz`` beside the metrics JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vemtransfer.config import Config
from vemtransfer.core.device import pick_device
from vemtransfer.core.provenance import git_commit
from vemtransfer.core.storage import atomic_path, write_json
from vemtransfer.data.splits import split_paths
from vemtransfer.model.metrics import confusion, scores


def load_raw_split(image_npy: str | Path, split: str, subset: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(image, label, section indices) of a raw split (its image ``.npy``), optionally a ``[start, stop]`` subset."""
    image_path, label_path = split_paths(Path(image_npy).parent, split)
    image, label = np.load(image_path, mmap_mode="r"), np.load(label_path, mmap_mode="r")
    zs = list(range(len(image)))
    if subset:
        zs = zs[slice(*subset)]
        if not zs:
            raise ValueError(f"baselines.sections {subset} selects no {split} section of {image_path.parent} (it has {len(image)})")
    return np.asarray(image[zs]), np.asarray(label[zs]), zs


def write_scores(cfg: Config, task: str, method: str, pred: np.ndarray, label: np.ndarray, sections: list[int],
                 out_json: str | Path, out_npz: str | Path, seconds: float, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics JSON and the prediction ``.npz`` of a binarised baseline prediction."""
    with atomic_path(out_npz) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, prediction=pred.astype(np.uint8), sections=np.asarray(sections))
    record = {"method": method, "task": task, **scores(confusion(pred, label)), "test_sections": sections,
              "seconds": round(seconds, 1), "device": str(pick_device()), **extra,
              "config_hash": cfg.hash, "git_commit": git_commit(), "demo": cfg.demo}
    write_json(out_json, record)
    return record
