"""Exported models: TorchScript plus the metadata needed to use them on a new volume.

A lab that only has the exported folder must be able to predict without this repository's
config: the folder holds ``model.ts`` (TorchScript, traced at the training patch size; the
network is fully convolutional, so it runs on any window size that pools cleanly) and
``model.json`` (task, patch size, widths, the preprocessing and normalisation the network
was trained with, the prediction threshold and overlap, metrics, training data, provenance).
``vemtransfer predict`` reads both.

:func:`export_options` (which model file, and what the export records about it) and
:func:`model_metadata` (``model.json``'s content) are shared with the bioimage.io export
(:mod:`vemtransfer.export.bioimageio`, ``vemtransfer export --format bioimageio``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vemtransfer.config.preprocess import NORMALISATION
from vemtransfer.core.storage import atomic_path, write_json
from vemtransfer.model.checkpoint import architecture, load_model, read_model_file

if TYPE_CHECKING:
    from vemtransfer.config import Config
    from vemtransfer.config.grid import Run

def export_options(cfg: Config, run: Run) -> tuple[Path, dict[str, Any]]:
    """The model file of ``run`` and the keyword arguments of :func:`model_metadata` for it:
    the target task's preprocessing and voxel size, the evaluation threshold and overlap, the
    test metrics and validation IoU (empty / None until evaluated / trained), the training data.
    The model file may not exist yet."""
    from vemtransfer.core.layout import Layout
    from vemtransfer.data.spacing import task_spacing

    layout, task = Layout.of(cfg.raw), cfg.tasks[run.target]
    metrics_file, history = Path(layout.metrics(run.model_id)), Path(layout.history(run.model_id))
    patches = Path(layout.patch_index(task.data_id(run.rep)))
    voxel_nm = list(task_spacing(cfg, patches)) if patches.exists() and cfg.raw["datasets"][task.dataset].get("voxel_nm") else None
    return Path(layout.model(run.model_id)), {
        "preprocess": task.preprocess, "voxel_nm": voxel_nm, "input_voxel_nm": cfg.raw["datasets"][task.dataset].get("voxel_nm"),
        "threshold": cfg.evaluation.threshold, "overlap": cfg.evaluation.overlap,
        "metrics": json.loads(metrics_file.read_text())["scores"] if metrics_file.exists() else {},
        "val_iou_fg": json.loads(history.read_text())["best_val_iou_fg"] if history.exists() else None,
        "training_data": training_data(cfg, run),
    }


def training_data(cfg: Config, run: Run) -> list[dict[str, Any]]:
    """The datasets ``run``'s model learnt from, as the config names them: the source task's
    (pretraining) for a fine-tune from a pretrained model, then the target task's."""
    from vemtransfer.config import NO_PRETRAIN

    if run.is_pretrain:
        roles = {run.target: "pretraining"}
    elif run.source == NO_PRETRAIN:
        roles = {run.target: "training"}
    else:
        roles = {run.source: "pretraining", run.target: "fine-tuning"}
    entries = []
    for task_id, role in roles.items():
        task = cfg.tasks[task_id]
        dataset = cfg.raw["datasets"][task.dataset]
        entry = {"name": task.dataset, "task": task_id, "label": task.label, "role": role, "kind": dataset["kind"],
                 "url": dataset.get("url") or dataset.get("api_url") or dataset.get("base_url"),
                 "voxel_nm": dataset.get("voxel_nm")}
        if role == "pretraining" and task_id in cfg.raw.get("pretrained", {}):
            entry["note"] = "pretrained model imported (config: pretrained)"
        entries.append({k: v for k, v in entry.items() if v is not None})
    return entries


def prepared_test_volume(cfg: Config, run: Run, shape: Sequence[int]) -> np.ndarray | None:
    """The target task's prepared (preprocessed uint8) test volume, else its training volume,
    memory-mapped: the first at least ``shape`` (z, y, x) large; None when there is none (not
    prepared yet, or too small)."""
    from vemtransfer.core.layout import Layout

    for path in map(Path, Layout.of(cfg.raw).prepared(cfg.tasks[run.target].data_id(run.rep), "test", "train")[::2]):  # images
        if path.exists():
            volume = np.load(path, mmap_mode="r")
            if volume.dtype == np.uint8 and volume.ndim == 3 and all(n >= s for n, s in zip(volume.shape, shape)):
                return volume
    return None


def model_metadata(model_file: str | Path, *, preprocess: Mapping[str, Any] | None = None,
                   voxel_nm: Sequence[float] | None = None, input_voxel_nm: Sequence[float] | None = None,
                   threshold: float = 0.5, overlap: float = 0.5,
                   metrics: Mapping[str, Any] | None = None, val_iou_fg: float | None = None,
                   training_data: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """What ``model.json`` holds for the trained model in ``model_file`` (the bioimage.io
    package's ``config.vemtransfer`` too).

    ``metrics``: the test scores (empty for a task without a test region); ``val_iou_fg``: the
    validation IoU the model was selected on; ``training_data``: see :func:`training_data`;
    ``voxel_nm``: the prepared voxel size the network saw; ``input_voxel_nm``: the raw voxel size
    of the training volume, the default of a new volume's when the preprocessing rescales to a
    pixel size (``voxel_yx_nm``).
    """
    blob = read_model_file(model_file)
    return {
        "format": "vemtransfer-export/1",
        **{k: blob.get(k) for k in ("source", "target", "budget", "rep", "seed", "config_hash", "selected_step", "demo")},
        **architecture(load_model(model_file)), "patch_size": list(blob.get("patch_size") or (18, 160, 160)),
        "preprocess": dict(preprocess or {}), "normalisation": NORMALISATION,
        "voxel_nm": [float(v) for v in voxel_nm] if voxel_nm is not None else None,
        "input_voxel_nm": [float(v) for v in input_voxel_nm] if input_voxel_nm is not None else None,
        "threshold": threshold, "overlap": overlap, "metrics": dict(metrics or {}), "val_iou_fg": val_iou_fg,
        "training_data": [dict(d) for d in training_data],
    }


def write_torchscript(model: torch.nn.Module, patch: Sequence[int], path: str | Path) -> None:
    """Trace ``model`` (in eval mode) on a (1, 1, *patch) input and save the TorchScript atomically."""
    # TorchScript is deprecated in favour of torch.export, but an exported program cannot be
    # switched to eval mode or run with a variable batch as simply; keep TorchScript for now
    # (bioimage.io runs it too).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model.eval(), torch.zeros(1, 1, *patch))
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))


def export_model(model_file: str | Path, out_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Write ``model.ts`` and ``model.json`` for the trained model in ``model_file``; returns the
    metadata (``options``: those of :func:`model_metadata`)."""
    meta = model_metadata(model_file, **options)
    out_dir = Path(out_dir)
    write_torchscript(load_model(model_file), meta["patch_size"], out_dir / "model.ts")
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


def input_preprocessing(meta: Mapping[str, Any], raw_shape: Sequence[int], input_voxel_nm: Sequence[float] | None = None,
                        ) -> tuple[dict[str, Any], tuple[float, ...] | None, str | None]:
    """(preprocessing, prepared voxel size in nm or None, a note or None) of a new raw volume of ``raw_shape``.

    A model trained on sections rescaled to a pixel size (``voxel_yx_nm``) must see a new
    volume rescaled to that pixel size too, which depends on the volume's own voxel size:
    ``input_voxel_nm`` (``--input-voxel-nm``), else the training volume's (said in the note).
    Without it the sections would be fed at their raw scale, objects the wrong size in pixels.
    """
    from vemtransfer.config.preprocess import prepared_voxel_nm, resolve_preprocess

    pp, note = dict(meta.get("preprocess") or {}), None
    raw_nm = input_voxel_nm
    if "voxel_yx_nm" in pp and raw_nm is None:
        raw_nm = meta.get("input_voxel_nm")
        if raw_nm is None:
            raise ValueError(f"the model rescales sections to {pp['voxel_yx_nm']} nm pixels: give the input's voxel size, --input-voxel-nm Z Y X")
        note = (f"the input is taken to have the training volume's voxel size, {list(raw_nm)} nm (z, y, x), and is rescaled "
                f"to {pp['voxel_yx_nm']} nm pixels; give --input-voxel-nm if it differs")
    pp = resolve_preprocess(pp, raw_nm, tuple(raw_shape)[1:])
    voxel = prepared_voxel_nm(raw_nm, tuple(raw_shape)[1:], 1, pp) if raw_nm is not None else None
    return pp, voxel, note


class PreprocessedVolume:
    """A raw uint8 (z, y, x) volume seen through the model's preprocessing, one section at a time.

    Sliding-window inference reads overlapping z-ranges; each section is preprocessed once
    and kept in a small cache, so memory stays a few sections whatever the volume.
    """

    def __init__(self, raw: Any, preprocess: Mapping[str, Any], cache_sections: int = 64) -> None:
        from vemtransfer.data.prepare import preprocess_image

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

