"""Exported models: TorchScript plus the metadata needed to use them on a new volume.

A lab that only has the exported folder must be able to predict without this repository's
config: the folder holds ``model.ts`` (TorchScript, traced at the training patch size; the
network is fully convolutional, so it runs on any window size that pools cleanly) and
``model.json`` (task, patch size, widths, the preprocessing and normalisation the network
was trained with, the prediction threshold and overlap, metrics, provenance).
``vemtransfer predict`` reads both.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vemtransfer.checkpoint import architecture, load_model, read_model_file
from vemtransfer.storage import atomic_path, write_json

NORMALISATION = "uint8 section -> CLAHE(clip 3.5, 8x8 tiles) -> GaussianBlur(3x3, sigma 0.5) -> (x - 127.5) / 127.5"


def export_model(model_file: str | Path, out_dir: str | Path, *, preprocess: Mapping[str, Any] | None = None,
                 voxel_nm: list[float] | None = None, threshold: float = 0.5, overlap: float = 0.5,
                 metrics: Mapping[str, Any] | None = None, val_iou_fg: float | None = None) -> dict[str, Any]:
    """Write ``model.ts`` and ``model.json`` for the trained model in ``model_file``; returns the metadata.

    ``metrics``: the test scores (empty for a task without a test region); ``val_iou_fg``: the
    validation IoU the model was selected on.
    """
    blob = read_model_file(model_file)
    model = load_model(model_file).eval()
    patch = tuple(blob.get("patch_size") or (18, 160, 160))
    # TorchScript is deprecated in favour of torch.export, but an exported program cannot be
    # switched to eval mode or run with a variable batch as simply; keep TorchScript for now.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, torch.zeros(1, 1, *patch))
    meta = {
        "format": "vemtransfer-export/1",
        **{k: blob.get(k) for k in ("source", "target", "budget", "rep", "seed", "config_hash", "selected_step", "demo")},
        **architecture(model), "patch_size": list(patch),
        "preprocess": dict(preprocess or {}), "normalisation": NORMALISATION, "voxel_nm": voxel_nm,
        "threshold": threshold, "overlap": overlap, "metrics": dict(metrics or {}), "val_iou_fg": val_iou_fg,
    }
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "model.ts") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp))
    write_json(out_dir / "model.json", meta)
    return meta


def load_for_prediction(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A network and its metadata from an exported folder (``model.ts`` + ``model.json``) or a training ``model.pt``."""
    path = Path(path)
    if path.is_dir():
        meta = json.loads((path / "model.json").read_text())
        return torch.jit.load(str(path / "model.ts"), map_location="cpu").eval(), meta
    blob = read_model_file(path)
    meta = {"patch_size": blob.get("patch_size") or [18, 160, 160], "preprocess": {}, "threshold": 0.5, "overlap": 0.5}
    return load_model(path).eval(), meta


class PreprocessedVolume:
    """A raw uint8 (z, y, x) volume seen through the model's preprocessing, one section at a time.

    Sliding-window inference reads overlapping z-ranges; each section is preprocessed once
    and kept in a small cache, so memory stays a few sections whatever the volume.
    """

    def __init__(self, raw: Any, preprocess: Mapping[str, Any], cache_sections: int = 64) -> None:
        from vemtransfer.prepare import preprocess_image

        self.raw, self.pp, self._pre = raw, dict(preprocess), preprocess_image
        self._cache: dict[int, np.ndarray] = {}
        self._limit = cache_sections
        first = self.section(0)
        self.shape = (raw.shape[0], *first.shape)
        self.dtype = np.dtype(np.uint8)

    def section(self, z: int) -> np.ndarray:
        if z not in self._cache:
            if len(self._cache) >= self._limit:
                self._cache.pop(next(iter(self._cache)))
            self._cache[z] = self._pre(np.asarray(self.raw[z]), self.pp)
        return self._cache[z]

    def __getitem__(self, index: tuple[slice, slice, slice]) -> np.ndarray:
        zs, ys, xs = index
        return np.stack([self.section(z)[ys, xs] for z in range(*zs.indices(self.shape[0]))])

